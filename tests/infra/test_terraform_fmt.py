"""infra/ is in `terraform fmt` canonical form (works offline: no provider is needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"


def _fmt_check(folder: Path) -> subprocess.CompletedProcess[str]:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail(
            "terraform is not on PATH: install Terraform >= 1.5 "
            "(https://developer.hashicorp.com/terraform/install) to run the infra checks"
        )
    return subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_infra_is_terraform_fmt_clean() -> None:
    result = _fmt_check(INFRA)
    assert result.returncode == 0, f"run `terraform fmt -recursive infra`:\n{result.stdout}"


def test_fmt_check_flags_misformatted_files(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('locals {\nx = "a"\n    longer_name = "b"\n}\n')
    result = _fmt_check(tmp_path)
    assert result.returncode != 0
    assert "main.tf" in result.stdout
