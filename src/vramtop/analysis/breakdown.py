"""How a process's VRAM splits into weights, the CUDA context and the rest: an estimate.

- weights: the size of the model files the process has open (enrichment's
  `weights_bytes`), never more than what it uses;
- context: what the process holds beyond its allocator's reserved pool, when
  deep mode reports that pool (CUDA context, cuBLAS workspaces, ...);
- dynamic: the rest (activations, KV cache, optimizer state, fragmentation);
  unknown (None) when the weights are.

Always `is_estimate=True`: files on disk can be quantized, compressed or only
partly loaded. Pure code.
"""

from __future__ import annotations

from vramtop.model import DeepStats, MemoryBreakdown


def estimate_breakdown(
    used_bytes: int | None, weights_bytes: int | None, deep: DeepStats | None = None
) -> MemoryBreakdown | None:
    """The split for one process; None when there is nothing to split."""
    if used_bytes is None or used_bytes <= 0:
        return None
    weights = min(weights_bytes, used_bytes) if weights_bytes and weights_bytes > 0 else None
    context: int | None = None
    if deep is not None and 0 < deep.reserved_bytes <= used_bytes:
        context = used_bytes - deep.reserved_bytes
    if weights is None and context is None:
        return None
    dynamic: int | None = None
    if weights is not None:
        dynamic = used_bytes - weights - (context or 0)
        if dynamic < 0:
            # Files larger than the pool they were loaded into: trust the measured context.
            weights = max(0, used_bytes - (context or 0))
            dynamic = 0
    return MemoryBreakdown(
        weights_bytes=weights, dynamic_bytes=dynamic, context_bytes=context, is_estimate=True
    )
