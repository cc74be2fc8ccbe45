"""Schemathesis against the OpenAPI document the service serves (real uvicorn, real HTTP): no 5xx, every status
code, content type, header and body as the document says. The run's counts are printed (``-s`` shows them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from service_support import Deployment, LiveService, create_key

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000f6")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance")


def test_schemathesis_finds_no_5xx_and_no_schema_violation(tmp_path: Path) -> None:
    dep = Deployment(f"sqlite:///{tmp_path / 'fuzz.db'}")
    try:
        dep.manager.create_connection(TENANT, "revenovaApi", "Seeded", {"accessToken": "tok-fuzz-12345"})
        with LiveService(dep.manager, allowed_return_urls=("http://127.0.0.1:9/app",),
                         rate_limit=(100_000, 60.0)) as svc:
            key = create_key(dep.manager, "admin")
            run = subprocess.run(
                [sys.executable, "-m", "schemathesis.cli", "run", svc.api("/openapi.json"), "--checks", CHECKS,
                 "-H", f"Authorization: Bearer {key}", "--max-examples", os.environ.get("FLUXNEX_FUZZ_EXAMPLES", "25"),
                 "--seed", "1", "--phases", "examples,coverage,fuzzing", "--request-timeout", "30",
                 "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml"), "--no-color"],
                capture_output=True, text=True, timeout=540, cwd=tmp_path,  # its crash cache stays out of the repo
            )
        summary = [line.strip() for line in run.stdout.splitlines() if re.search(r"generated|Operations:", line)]
        print("schemathesis:", *summary, sep="\n  ")
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        junit = (tmp_path / "junit.xml").read_text(encoding="utf-8")
        tests = int(re.search(r'tests="(\d+)"', junit).group(1))  # type: ignore[union-attr]
        assert tests >= 10  # every operation was exercised
    finally:
        dep.close()
