"""The enums-and-layout contract, Python side: the shared cases in spec/fixtures/enums.json and
spec/fixtures/layout.json give the same answers here as in test/contract_enums.test.ts, through
the code that uses the tables (torch and numpy dtype maps, the bench's busbw, the slot packer).
The generated layout also matches the tables of docs/protocol.md (moved here from test_units.py).
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path

import pytest

from opennetworks import _layout as L
from opennetworks._gen import enums as E
from opennetworks._gen import layout as G

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"


def fixture(name: str) -> dict:
    return json.loads((ROOT / "spec" / "fixtures" / name).read_text())


ENUMS = fixture("enums.json")
LAYOUT = fixture("layout.json")
FW = ENUMS["frameworkDtypes"]["cases"]


# ---------------------------------------------------------------- enums
def test_protocol_version():
    assert E.PROTOCOL_VERSION == L.PROTOCOL_VERSION == ENUMS["protocolVersion"]


@pytest.mark.parametrize("d", ENUMS["dtypes"], ids=lambda d: d["name"])
def test_dtype_code_bytes_float(d):
    assert L.DTYPES[d["name"]] == d["code"] and L.DTYPE_NAMES[d["code"]] == d["name"]
    assert L.DTYPE_SIZE[d["code"]] == d["bytes"]
    assert (d["code"] in L.FLOAT_DTYPES) == d["float"]


def test_exactly_the_fixture_names():
    assert list(L.DTYPES) == [d["name"] for d in ENUMS["dtypes"]]
    assert list(L.COLLS.items()) == [(c["name"], c["code"]) for c in ENUMS["collectives"]]
    assert list(L.REDOPS) == [o["name"] for o in ENUMS["reduceOps"]]
    assert list(E.RANK_KINDS) == ENUMS["rankKinds"]


@pytest.mark.parametrize("c", ENUMS["collectives"], ids=lambda c: c["name"])
def test_collective_code_and_method(c):
    assert L.COLLS[c["name"]] == c["code"] and L.COLL_NAMES[c["code"]] == c["name"]
    assert E.COLL_METHODS[c["name"]] == c["py"]


@pytest.mark.parametrize("o", ENUMS["reduceOps"], ids=lambda o: o["name"])
def test_reduce_op(o):
    assert L.REDOPS[o["name"]] == o["code"] and L.REDOP_NAMES[o["code"]] == o["name"]
    assert E.TORCH_REDOPS[o["torch"]] == o["code"]
    assert (o["code"] in E.INTEGER_ONLY_REDOPS) == o["integerOnly"]


@pytest.mark.parametrize("o", ENUMS["reduceOps"], ids=lambda o: o["name"])
def test_torch_reduce_op_maps_through_redop_code(o):
    torch = pytest.importorskip("torch")
    dist = pytest.importorskip("torch.distributed")
    from opennetworks.torch._dtypes import redop_code

    op = dist._make_nccl_premul_sum(2.0) if o["torch"] == "PREMUL_SUM" else getattr(dist.ReduceOp, o["torch"])
    assert redop_code(op, torch.int32 if o["integerOnly"] else torch.float32)[0] == o["code"]


@pytest.mark.parametrize("c", [c for c in FW if c["framework"] == "torch"], ids=lambda c: c["type"])
def test_torch_dtype(c):
    torch = pytest.importorskip("torch")
    from opennetworks._errors import UnsupportedError
    from opennetworks.torch._dtypes import dtype_code

    t = getattr(torch, c["type"])
    if c["dtype"] is None:
        with pytest.raises(UnsupportedError, match=c["type"]):
            dtype_code(t)
    else:
        assert dtype_code(t) == (L.DTYPES[c["dtype"]], c["per"])


@pytest.mark.parametrize("c", [c for c in FW if c["framework"] == "numpy"], ids=lambda c: c["type"])
def test_numpy_dtype(c):
    import numpy as np

    from opennetworks._comm import np_dtype_code
    from opennetworks._errors import UnsupportedError

    if c["dtype"] is None:
        with pytest.raises(UnsupportedError, match=c["type"]):
            np_dtype_code(np.dtype(c["type"]))
    else:
        assert np_dtype_code(np.dtype(c["type"])) == L.DTYPES[c["dtype"]]


@pytest.mark.parametrize("c", [c for c in FW if c["framework"] == "jax"], ids=lambda c: c["type"])
def test_jax_dtype(c):
    jnp = pytest.importorskip("jax.numpy")
    from opennetworks._comm import np_dtype_code

    assert E.JAX_DTYPES[c["type"]] == L.DTYPES[c["dtype"]]
    assert np_dtype_code(jnp.dtype(c["type"])) == L.DTYPES[c["dtype"]]  # jax arrays travel as numpy


@pytest.mark.parametrize("c", ENUMS["busbw"]["cases"], ids=lambda c: f"{c['coll']}-{c['world']}")
def test_busbw_factor(c):
    from opennetworks.bench import _metrics as M

    assert math.isclose(E.bus_factor(c["coll"], c["world"]), c["factor"], rel_tol=1e-12)
    assert math.isclose(M.bus_factor(c["coll"], c["world"]), c["factor"], rel_tol=1e-12)


@pytest.mark.parametrize("name", ENUMS["unknownCollectives"])
def test_busbw_unknown_collective(name):
    with pytest.raises(ValueError, match="unknown collective"):
        E.bus_factor(name, 4)


# ---------------------------------------------------------------- layout
def test_layout_constants():
    k = LAYOUT["constants"]
    assert (
        L.MAGIC,
        L.LAYOUT_VERSION,
        L.NUM_SLOTS,
        L.SLOTS_OFFSET,
        L.SLOT_BYTES,
        L.DATA_OFFSET,
        L.CTL_BYTES,
        L.ALIGN,
        L.SLOT_MSG_BYTES,
        L.SLOT_MAX_RANKS,
    ) == (
        k["magic"],
        k["layout_version"],
        k["num_slots"],
        k["slots_offset"],
        k["slot_bytes"],
        k["data_offset"],
        k["ctl_bytes"],
        k["align"],
        k["slot_msg_bytes"],
        k["slot_max_ranks"],
    )
    assert {n: getattr(L, n.upper()) for n in LAYOUT["slotStates"]} == LAYOUT["slotStates"]
    assert {n: getattr(L, "FLAG_" + n.upper()) for n in LAYOUT["flags"]} == LAYOUT["flags"]


@pytest.mark.parametrize(
    "struct_name,prefix,fields",
    [("arena", "OFF", G.ARENA_FIELDS), ("slot", "SLOT", G.SLOT_FIELDS), ("ctl", "CTL", G.CTL_FIELDS)],
)
def test_every_field_at_its_offset(struct_name, prefix, fields):
    want = LAYOUT[struct_name]
    assert {n: [off, t] for n, (off, t, _) in fields.items()} == want
    # ... and under the names the client code reads (_layout re-exports _gen.layout).
    assert {n: getattr(L, f"{prefix}_{n.upper()}") for n in want} == {n: off for n, (off, _) in want.items()}


def test_request_packs_to_the_fixture_bytes():
    req = LAYOUT["request"]
    buf = bytearray(len(req["hex"]) // 2)
    L.SLOT_REQUEST.pack_into(buf, G.SLOT_REQUEST_OFFSET, *(req["values"][n] for n in G.SLOT_REQUEST_FIELDS))
    assert buf.hex() == req["hex"]
    assert set(G.SLOT_REQUEST_FIELDS) == set(req["values"])
    # The completion reader sees what the coordinator writes at src/flags/out_count.
    struct.pack_into("<iIQ", buf, L.SLOT_SRC, 3, 1, 4097)
    assert L.SLOT_RESULT.unpack_from(buf, L.SLOT_SRC) == (3, 1, 4097)


# ---------------------------------------------------------------- docs/protocol.md
def _table(section_title):
    """Rows of the first table after the heading, without its header and separator lines."""
    lines = PROTOCOL.read_text().split(section_title, 1)[1].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _field(text: str) -> str:
    """The field a row names: `post_count`: ... -> post_count; coordinator pid -> coord_pid."""
    m = re.match(r"`(\w+)`", text)
    if m:
        return m.group(1)
    name = re.split(r" `| \(", text)[0].replace("coordinator ", "coord_").replace("layout version", "version")
    return name.replace(" ", "_")


def _doc_offsets(section_title: str, fields: dict, undocumented=()) -> None:
    doc = {_field(r[2]): int(r[0]) for r in _table(section_title) if r[0].isdigit()}
    ours = {n: off for n, (off, _, _) in fields.items() if n not in undocumented}
    assert {n: doc.get(n) for n in ours} == ours, f"docs/protocol.md {section_title} disagrees with spec/layout.json"


def test_slot_offsets_match_protocol():
    _doc_offsets("### Slot (512 bytes)", G.SLOT_FIELDS)


def test_arena_and_ctl_offsets_match_protocol():
    _doc_offsets("### Arena", G.ARENA_FIELDS, undocumented=("heartbeat",))  # reserved, unused in v1
    arena = {_field(r[2]): r[0] for r in _table("### Arena")}
    assert int(arena["data_region"]) == L.DATA_OFFSET
    _doc_offsets("### Ctl segment", G.CTL_FIELDS)


def test_enums_match_protocol():
    colls = {r[0]: int(r[1]) for r in _table("## 5. Collectives")}
    assert colls == L.COLLS
    slot = {_field(r[2]): r[2] for r in _table("### Slot (512 bytes)")}
    assert dict((n, int(c)) for c, n in re.findall(r"(\d+) (\w+)", slot["dtype"].split(":", 1)[1])) == L.DTYPES
    assert dict((n, int(c)) for c, n in re.findall(r"(\d+) (\w+)", slot["redop"].split(":", 1)[1])) == L.REDOPS
