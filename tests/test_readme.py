"""Every command of the README's quick start (its requests), API and command-line sections runs
as written against a live service, and the example result has the fields of a real one.

The service is started with the README's own `serve` command on a free port (the tiny random
model). Commands run with bash in a folder that holds the repository's `src`, `docs` and `.venv`,
as from a checkout. Only these are changed: `localhost:8000` becomes the live address, and the
placeholders `<id>`, `<sha256>`, `<token>` and `<key-id>` take the values of earlier answers (a
command that names a task runs once that task ended, as a reader polls first). curl fails on
any 4xx or 5xx answer (`--fail-with-body` in its configuration).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import png_bytes

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TESTED = ("Quick start", "The API", "Command line")
PLACEHOLDER = re.compile(r"<(id|sha256|token|key-id)>")
ADDRESS = re.compile(r"(localhost|127\.0\.0\.1):8000")
LEARN = {
    "id": re.compile(r'"task_id":\s*"([0-9a-f]{32})"|Location: /v1/tasks/([0-9a-f]{32})', re.I),
    "sha256": re.compile(r'"sha256":\s*"([0-9a-f]{64})"'),
    "token": re.compile(r'"token":\s*"([^"]+)"'),
    "key-id": re.compile(r"Made \w+ key ([0-9a-f]+)"),
}


def sections() -> dict[str, str]:
    """The README's `## ` sections by title, each with its subsections."""
    parts = re.split(r"^## (.+)$", README, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a `#` outside quotes, after a space)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def commands(title: str) -> list[str]:
    """The commands of a section's bash blocks, continuation lines joined, comments dropped."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", sections()[title], flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            if command := strip_comment(command).strip():
                found.append(command)
    return found


def readme_commands() -> list[str]:
    quick = [c for c in commands("Quick start") if not c.startswith("make ")]
    assert quick, "the quick start shows a first request"
    return quick + commands("The API") + commands("Command line")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Reader:
    """Runs commands as a reader of the README would, remembering the values they print."""

    def __init__(self, folder: Path, env: dict[str, str], port: int) -> None:
        self.folder, self.env, self.port = folder, env, port
        self.base_url = f"http://127.0.0.1:{port}"
        self.values: dict[str, str] = {}
        self.outputs: list[tuple[str, str]] = []

    def command(self, text: str) -> str:
        """The command as run: the live address and the placeholders' values."""
        for name in PLACEHOLDER.findall(text):
            assert name in self.values, f"nothing earlier gave <{name}>: {text}"
            if name == "id":
                self.wait_finished(self.values["id"])
        text = PLACEHOLDER.sub(lambda match: self.values[match.group(1)], text)
        text = text.replace("--port 8000", f"--port {self.port}")
        return ADDRESS.sub(f"127.0.0.1:{self.port}", text)

    def run(self, text: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-c", self.command(text)],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{text}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        for name, pattern in LEARN.items():
            for match in pattern.finditer(done.stdout + done.stderr):
                self.values[name] = next(group for group in match.groups() if group)
        self.outputs.append((text, done.stdout))
        return done

    def wait_finished(self, task_id: str, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while (task := httpx.get(f"{self.base_url}/v1/tasks/{task_id}").json())["status"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline, task
            time.sleep(0.1)
        assert task["status"] == "succeeded", task


@pytest.fixture(scope="module")
def reader(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    """A folder like a checkout, the service started with the README's `serve` command."""
    folder = tmp_path_factory.mktemp("readme")
    for name in ("src", "docs", ".venv"):
        (folder / name).symlink_to(ROOT / name)
    (folder / ".curlrc").write_text("fail-with-body\nsilent\nshow-error\n")
    env = {
        **os.environ,
        "CURL_HOME": str(folder),
        "SAM3_MODEL": str(tiny_model_dir),
        "SAM3_DEVICE": "cpu",
        "SAM3_DATA_DIR": str(folder / "var"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    reader = Reader(folder, env, free_port())
    [serve] = [c for c in commands("Command line") if " serve " in f"{c} "]
    log = (folder / "serve.log").open("wb")
    server = subprocess.Popen(
        ["bash", "-c", f"exec {reader.command(serve)}"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (folder / "serve.log").read_text()
            assert time.monotonic() < deadline, (folder / "serve.log").read_text()
            try:
                if httpx.get(f"{reader.base_url}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield reader
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_every_command_runs_as_written(reader: Reader) -> None:
    for command in readme_commands():
        assert command.startswith(("curl ", ".venv/bin/sam3-service ")), command
        if " serve " in f"{command} ":
            continue  # the fixture runs it: the service these commands talk to
        reader.run(command)
    segmented = [json.loads(out) for cmd, out in reader.outputs if cmd.endswith("/v1/segment")]
    for answer in segmented:  # objects, or a warning that says why none and what to lower
        assert answer["objects"] or "score_threshold=0.2" in answer["warning"], answer
    assert segmented[1]["objects"], "the quick start's second request lowers the threshold"
    folder = reader.folder
    for name in ("overlay.png", "result.json", "result.jsonl", "overlay.mp4"):
        assert (folder / name).stat().st_size > 0, name
    for stem in ("chelsea", "coffee", "astronaut", "rocket"):
        assert (folder / "results" / f"{stem}.json").exists(), stem
    assert (folder / "results" / "rocket.overlay.mp4").exists()
    assert (folder / "tiny-sam3" / "config.json").exists()


def example_result() -> dict[str, Any]:
    [block] = re.findall(r"```json\n(.*?)```", sections()["The API"], flags=re.S)
    parsed: dict[str, Any] = json.loads(block)
    return parsed


def same_fields(example: dict[str, Any], real: dict[str, Any], where: str) -> None:
    assert set(example) == set(real), f"{where}: {sorted(example)} != {sorted(real)}"


def test_the_example_result_has_the_fields_of_a_real_one(reader: Reader) -> None:
    example = example_result()
    files = {"file": ("fresh.png", png_bytes(451, 300), "image/png")}  # a picture not seen yet
    real = httpx.post(
        f"{reader.base_url}/v1/segment",
        files=files,
        data={"prompt": "cat", "score_threshold": "0.2"},
    ).json()
    assert real["vision_cache_hit"] is False  # cache hits skip encode_image: compare a miss
    stored = httpx.get(f"{reader.base_url}{real['links']['result_json']}").json()
    for answer, where in ((real, "POST /v1/segment"), (stored, "result.json")):
        assert answer.pop("warning")  # the random model's; real weights have none
        same_fields(example, answer, where)
        for field in ("image", "model", "timings_ms", "links"):
            same_fields(example[field], answer[field], f"{where} {field}")
        same_fields(example["objects"][0], answer["objects"][0], f"{where} object")
        same_fields(example["objects"][0]["rle"], answer["objects"][0]["rle"], f"{where} rle")
        assert set(example["prompt"]) <= set(answer["prompt"]), where
        assert answer["task_id"] == real["task_id"]
