"""Build one deployable zip per Cloud Function: its main.py at the root, shared/,
and a requirements.txt with the runtime dependencies from pyproject.toml.

Zips are byte-for-byte reproducible (sorted entries, fixed timestamps), so the
content hash in each file name changes only when the code does, and Terraform
redeploys exactly the functions whose code changed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tomllib
import zipfile
from pathlib import Path

from devstack.processes import REPO_ROOT

FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def function_names(root: Path = REPO_ROOT) -> list[str]:
    return sorted(p.parent.name for p in (root / "functions").glob("*/main.py"))


def runtime_requirements(root: Path = REPO_ROOT) -> str:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return "\n".join(project["dependencies"]) + "\n"


def build_zip(name: str, root: Path = REPO_ROOT) -> bytes:
    entries = {
        "main.py": (root / "functions" / name / "main.py").read_bytes(),
        "requirements.txt": runtime_requirements(root).encode(),
        **_tree(root, "shared", "*.py"),
    }
    return _zip(entries)


def build_gateway_bundle(root: Path = REPO_ROOT) -> bytes:
    """gateway_vm/ (bridge, compose file, units, scripts) and shared/, for the VM's startup script."""
    return _zip({"requirements.txt": runtime_requirements(root).encode(),
                 **_tree(root, "gateway_vm", "*"), **_tree(root, "shared", "*.py")})


def _tree(root: Path, folder: str, pattern: str) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted((root / folder).rglob(pattern))
        if path.is_file() and "__pycache__" not in path.parts
    }


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename in sorted(entries):
            info = zipfile.ZipInfo(filename, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[filename])
    return buffer.getvalue()


def package_all(out_dir: Path, root: Path = REPO_ROOT) -> dict[str, str]:
    """Write <name>-<sha256[:16]>.zip per function, a manifest.json Terraform reads,
    and gateway_vm.zip."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name in function_names(root):
        content = build_zip(name, root)
        filename = f"{name}-{hashlib.sha256(content).hexdigest()[:16]}.zip"
        (out_dir / filename).write_bytes(content)
        manifest[name] = filename
    (out_dir / "gateway_vm.zip").write_bytes(build_gateway_bundle(root))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "functions")
    args = parser.parse_args(argv)
    for name, filename in package_all(args.out).items():
        print(f"{name}: {args.out / filename}")


if __name__ == "__main__":
    main()
