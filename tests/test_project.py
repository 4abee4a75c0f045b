"""The project frame: README quick start and CI agree, examples run."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = _bash_blocks(quick)
    assert len(blocks) == 2 and all("\n" not in b for b in blocks), blocks
    setup_and_run, tests = blocks
    assert "venv" in setup_and_run and "venv" in tests and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    marker = next(i for i, line in enumerate(ci) if "README-TEST-COMMAND" in line)
    assert ci[marker + 1].strip() == tests


def test_engine_tour_example_runs():
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "engine_tour.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for name in ("δ_k", "δ_j"):
        diff = float(re.search(rf"{name}\| = (\S+)", out).group(1))
        assert diff < 1e-12, (name, diff)
