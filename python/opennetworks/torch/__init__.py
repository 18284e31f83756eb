"""``import opennetworks.torch`` registers the torch.distributed backend ``"opennetworks"``.

    import opennetworks.torch  # noqa: F401
    dist.init_process_group("opennetworks")
"""
import torch.distributed as dist

from ._process_group import ProcessGroupOnet, create

BACKEND = "opennetworks"

if BACKEND not in dist.Backend.backend_list:
    dist.Backend.register_backend(BACKEND, create, extended_api=True, devices=["cpu"])

__all__ = ["ProcessGroupOnet", "BACKEND"]
