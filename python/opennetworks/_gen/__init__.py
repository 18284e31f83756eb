"""Code generated from spec/ by spec/generate.mjs (`npm run gen`); do not edit the modules here."""
