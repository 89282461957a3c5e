"""The TUI on a real NVIDIA GPU beside a real training job (headless, with screenshots).

Run on a GPU machine (screenshots and screen text land in VRAMTOP_TUI_OUT):
    VRAMTOP_TUI_OUT=/tmp/tui python -m pytest tests/ui/test_gpu_tui.py -m gpu -v -s
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vramtop.commands._common import build_live_monitor
from vramtop.config import Config
from vramtop.ui.app import create_app
from vramtop.ui.screens.detail import DetailScreen
from vramtop.ui.widgets.process_table import ProcessTable

from .helpers import holder, screen_text, wait_for

pytestmark = pytest.mark.gpu

# A real training loop (MLP + Adam) when PyTorch is there; else memory held and
# grown through the CUDA driver API, which ships with every driver.
TRAIN = r"""
import sys, time
try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    model = torch.nn.Sequential(torch.nn.Linear(4096, 8192), torch.nn.ReLU(),
                                torch.nn.Linear(8192, 4096)).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(1024, 4096, device="cuda")
    kept = []
    step = 0
    while True:
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0:
            kept.append(torch.empty(64 * 1024 * 1024, dtype=torch.uint8, device="cuda"))
            torch.cuda.synchronize()
            if step == 0:
                print("ready torch", flush=True)
        step += 1
        time.sleep(0.01)
else:
    import ctypes
    cuda = ctypes.CDLL("libcuda.so.1")
    assert cuda.cuInit(0) == 0
    dev = ctypes.c_int(); assert cuda.cuDeviceGet(ctypes.byref(dev), 0) == 0
    ctx = ctypes.c_void_p(); assert cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev) == 0
    assert cuda.cuCtxSetCurrent(ctx) == 0
    keep = []
    def alloc(n):
        p = ctypes.c_uint64(); assert cuda.cuMemAlloc_v2(ctypes.byref(p), ctypes.c_size_t(n)) == 0
        keep.append(p)
    alloc(2 << 30)
    print("ready cuda-driver", flush=True)
    while True:
        time.sleep(0.5)
        alloc(64 << 20)
"""


def out_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("VRAMTOP_TUI_OUT", str(tmp_path)))
    d.mkdir(parents=True, exist_ok=True)
    return d


async def test_tui_beside_a_real_training_job(tmp_path: Path) -> None:
    job = subprocess.Popen([sys.executable, "-c", TRAIN], stdout=subprocess.PIPE, text=True)
    try:
        assert job.stdout is not None
        first = job.stdout.readline().split()
        assert first[:1] == ["ready"], first
        cfg = Config()
        monitor = build_live_monitor(cfg)
        monitor.open()
        app = create_app(monitor, holder(cfg))
        out = out_dir(tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            table = app.main.query_one(ProcessTable)
            mine = f":{job.pid}:"
            await wait_for(pilot, lambda: any(mine in k for k in table.row_keys()), timeout=60)
            # Let a dozen samples build the phase, rate and history.
            n = app.frame.seq if app.frame else 0
            await wait_for(
                pilot, lambda: app.frame is not None and app.frame.seq >= n + 12, timeout=60
            )
            main_svg = app.save_screenshot("tui_main.svg", str(out))
            (out / "tui_main.txt").write_text(screen_text(app))
            row = table.row_keys().index(next(k for k in table.row_keys() if mine in k))
            table.move_cursor(row=row)
            pv = app.main.selected_view
            assert pv is not None and pv.process.pid == job.pid
            assert pv.process.used_bytes is not None and pv.process.used_bytes > 0
            if first[1] == "torch":
                assert pv.info is not None and pv.info.framework == "pytorch"
            await pilot.press("d")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, DetailScreen) and app.screen.series is not None,
            )
            await pilot.pause(0.5)
            detail_svg = app.save_screenshot("tui_detail.svg", str(out))
            (out / "tui_detail.txt").write_text(screen_text(app))
            await pilot.press("escape", "q")
        print(f"\nscreenshots: {main_svg} {detail_svg}")
        print((out / "tui_main.txt").read_text())
        print((out / "tui_detail.txt").read_text())
    finally:
        job.kill()
        job.wait(timeout=30)
        if job.stdout is not None:
            job.stdout.close()
