"""``import opennetworks.ray`` registers OpenNetworks as a ``ray.util.collective`` backend.

    import ray.util.collective as col
    import opennetworks.ray  # in the driver and in every actor (or the setup hook below)

    col.init_collective_group(world, rank, backend="opennetworks", group_name="g")
    col.allreduce(tensor, group_name="g")

Ray looks a backend up in the process that creates the group, so every worker process needs the
registration: import this module in the actor, or let Ray do it for every worker with
``ray.init(runtime_env={"worker_process_setup_hook": "opennetworks.ray.register"})``.

Ray Train needs nothing from this module: ``TorchConfig(backend="opennetworks")`` uses the torch
backend, which torch loads on ``import torch`` through the package's ``torch.backends`` entry point.
"""

try:
    import ray.util.collective  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"opennetworks.ray needs Ray (pip install 'opennetworks[ray]'): {e}") from e

from ._group import BACKEND, OnetGroup  # noqa: E402

__all__ = ["BACKEND", "OnetGroup", "register"]


def register() -> None:
    """Register the backend with ``ray.util.collective`` (idempotent; safe as a Ray setup hook)."""
    from ray.util.collective import register_collective_backend

    try:
        register_collective_backend(BACKEND, OnetGroup)
    except ValueError:  # "already registered": this process imported us before
        pass


register()
