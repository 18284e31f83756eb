export async function bench(_o: unknown): Promise<number> { throw new Error("EINTERNAL: bench not built yet"); }
