"""Entry point of the ``torch.backends`` group: torch calls it at import, so that
``dist.init_process_group("opennetworks")`` works without importing opennetworks first.
Never breaks ``import torch``: any failure leaves the backend unregistered.
"""


def register() -> None:
    try:
        import opennetworks.torch  # noqa: F401
    except Exception:  # noqa: BLE001
        pass
