"""The positional factories the engine builds its per-process objects with."""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError, fields

import pytest

from vramtop.analysis.survival import SurvivalInput, new_survival_input
from vramtop.frame import ProcessView, new_process_view
from vramtop.model import (
    GPUProcess,
    Phase,
    PhaseState,
    SurvivalPrediction,
    Verdict,
    positional_factory,
)


def test_factories_make_what_the_constructors_make() -> None:
    proc = GPUProcess(pid=7, starttime=11, used_bytes=5, cmdline=("python",))
    state = PhaseState(Phase.GROWING, 4, 2.5, 0.5, 0.25)
    verdict = SurvivalPrediction(Verdict.TIGHT, 9, 1.5, "estimated peak barely fits")
    view_args = (proc, 0, "GPU-x", state, 0.1, True, 9, None, verdict, None)
    view = new_process_view(*view_args)
    assert view == ProcessView(*view_args)
    assert repr(view) == repr(ProcessView(*view_args))
    assert hash(view.phase) == hash(state)
    assert pickle.loads(pickle.dumps(view)) == view
    with pytest.raises(FrozenInstanceError):
        view.share = 0.2  # type: ignore[misc]

    inp_args = (5, Phase.STABLE, 9, "pytorch", ("python",), None, None, None)
    assert new_survival_input(*inp_args) == SurvivalInput(*inp_args)
    make_state = positional_factory(PhaseState)
    assert make_state(*(getattr(state, f.name) for f in fields(state))) == state


def test_factory_refuses_classes_it_cannot_make() -> None:
    with pytest.raises(TypeError):
        positional_factory(GPUProcess)  # __post_init__ fills `identity`
