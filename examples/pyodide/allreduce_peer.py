"""The CPython rank next to allreduce.py's WebAssembly rank (shared memory, numpy):

onet run -n 1 --web 1 -- python examples/pyodide/allreduce_peer.py    # prints rank 1's join URL
"""

import numpy as np

import opennetworks as on

comm = on.init()
y = comm.all_reduce(np.full(4, comm.rank + 1.0, np.float32), op="sum")
print(f"rank {comm.rank} of {comm.size} (python): {y.tolist()}", flush=True)
