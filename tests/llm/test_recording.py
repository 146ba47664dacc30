"""``record`` and ``replay``: a recording replays byte for byte; every failure is named."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from labtrust_gym.errors import LLMBackendError, LLMConfigError, LLMReplayError
from labtrust_gym.fileio import canonical_json
from labtrust_gym.llm.recording import append_line, read_records, record_line
from labtrust_gym.llm.registry import create_llm_backend, register_llm_backend
from labtrust_gym.llm.settings import LLMSettings
from tests.llm.conftest import EchoBackend, needs_openai, request


def _run(backend_id: str, texts: list[str], **settings: object) -> list[str]:
    """Each answer's canonical bytes (or its error) for the requests ``request(text)``."""
    backend = create_llm_backend(backend_id, LLMSettings(**settings))  # type: ignore[arg-type]
    out = []
    for text in texts:
        try:
            out.append(canonical_json(backend.complete(request(text)).to_dict()))
        except LLMBackendError as exc:
            out.append(f"error {exc.kind}: {exc}")
    return out


def _replay_all(path: Path, texts: list[str]) -> list[str]:
    return _run("replay", texts, replay_path=str(path))


def _record_all(path: Path, texts: list[str], **settings: object) -> list[str]:
    return _run("record", texts, record_path=str(path), **settings)


def test_record_then_replay_is_byte_identical_errors_included(tmp_path: Path) -> None:
    register_llm_backend("echo", EchoBackend)
    path = tmp_path / "calls.jsonl"
    texts = ["MOVE", "fail", "not json", "MOVE", '{"reason": "no action"}']
    recorded = _record_all(path, texts, record_wraps="echo")
    assert recorded[1] == "error server_error: scripted failure"
    assert len(path.read_text().splitlines()) == len(texts)  # one line per call, errors too
    assert _replay_all(path, texts) == recorded
    # identical requests are answered in recorded order (latencies differ: 0.25 s vs 1.0 s)
    assert json.loads(recorded[0])["latency_s"] != json.loads(recorded[3])["latency_s"]


@needs_openai
def test_record_openai_compatible_then_replay_offline(chat_server: str, tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    model = f"ok:{uuid.uuid4().hex[:8]}"
    live = _record_all(path, ["a", "b", "a"], base_url=chat_server, model=model,
                       allow_network=True)
    malformed = f"malformed:{uuid.uuid4().hex[:8]}"
    live += _record_all(path, ["c"], base_url=chat_server, model=malformed, allow_network=True)
    failing = f"500-always:{uuid.uuid4().hex[:8]}"
    live += _record_all(path, ["d"], base_url=chat_server, model=failing, allow_network=True,
                        max_retries=0)
    assert live[4].startswith("error server_error")
    # replay needs neither the network nor the server's settings
    assert _replay_all(path, ["a", "b", "a", "c", "d"]) == live
    assert json.loads(live[0])["backend_id"] == "openai_compatible"
    assert json.loads(live[3])["parse_error"].startswith("not valid JSON")


def test_missing_hash_names_the_hash_and_the_file(tmp_path: Path) -> None:
    register_llm_backend("echo", EchoBackend)
    path = tmp_path / "calls.jsonl"
    _record_all(path, ["MOVE"], record_wraps="echo")
    replay = create_llm_backend("replay", LLMSettings(replay_path=str(path)))
    other = request("TICK")
    with pytest.raises(LLMReplayError) as info:
        replay.complete(other)
    assert other.request_hash in str(info.value) and str(path) in str(info.value)
    replay.complete(request("MOVE"))
    with pytest.raises(LLMReplayError, match="holds 1 answer"):
        replay.complete(request("MOVE"))


def test_replay_and_record_need_their_files(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match="replay_path"):
        create_llm_backend("replay")
    with pytest.raises(LLMReplayError, match="does not exist"):
        create_llm_backend("replay", replay_path=str(tmp_path / "none.jsonl"))
    with pytest.raises(LLMConfigError, match="record_path"):
        create_llm_backend("record")
    with pytest.raises(LLMConfigError, match="cannot wrap itself"):
        create_llm_backend("record", record_path=str(tmp_path / "x"), record_wraps="record")


def test_interrupted_recording_stays_readable(tmp_path: Path) -> None:
    register_llm_backend("echo", EchoBackend)
    path = tmp_path / "calls.jsonl"
    _record_all(path, ["MOVE", "TICK"], record_wraps="echo")
    complete = path.read_bytes()
    path.write_bytes(complete + complete.splitlines(keepends=True)[0][:40])  # crash mid-write
    with pytest.warns(UserWarning, match="last line is incomplete"):
        assert len(read_records(path)) == 2
    import warnings

    with warnings.catch_warnings():  # warned once per file: not again per episode's backend
        warnings.simplefilter("error")
        replay = create_llm_backend("replay", replay_path=str(path))
    assert replay.complete(request("TICK")).answer == {"action": "TICK"}


def test_edited_or_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    req = request("MOVE")
    response = EchoBackend().complete(req)
    line = json.loads(record_line(req, response))
    line["request"]["messages"][0]["content"] = "something else"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(LLMReplayError, match=r"calls\.jsonl:1: the stored request hash"):
        read_records(path)
    path.write_text('{"format": "other"}\n')
    with pytest.raises(LLMReplayError, match=r"not a labtrust\.llm\.record\.v1 record"):
        read_records(path)
    path.write_text("not json\n")
    with pytest.raises(LLMReplayError, match=r"calls\.jsonl:1: not a JSON record"):
        read_records(path)


def test_append_line_appends_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    for index in range(3):
        append_line(path, f'{{"n": {index}}}\n'.encode())
    assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [0, 1, 2]


def test_two_processes_appending_to_one_file_leave_whole_lines(tmp_path: Path) -> None:
    """Worker processes may share a record file: lines (larger than a pipe buffer) never mix."""
    import subprocess
    import sys

    path = tmp_path / "shared.jsonl"
    code = ("import sys; from labtrust_gym.llm.recording import append_line\n"
            "for i in range(40):\n"
            "    append_line(sys.argv[1], ('{\"w\": \"%s\", \"pad\": \"%s\"}\\n'"
            " % (sys.argv[2], sys.argv[2] * 20000)).encode())\n")
    workers = [subprocess.Popen([sys.executable, "-c", code, str(path), tag]) for tag in "ab"]
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(line["w"] for line in lines) == ["a"] * 40 + ["b"] * 40
    assert all(line["pad"] == line["w"] * 20000 for line in lines)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("answer", {"action": "RELEASE_RESULT"}, "its answer"),
        ("text", '{"action": "RELEASE_RESULT"}', "its answer"),
        ("answer_hash", "0" * 64, "its answer_hash"),
        ("parse_error", "not valid JSON", "its parse_error"),
        ("latency_s", "abc", "latency_s must be a number"),
        ("repairs", -1, "repairs must be a count"),
        ("model", 5, "model must be a string"),
    ],
)
def test_an_edited_answer_or_malformed_field_is_refused(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    """Replay rebuilds each response from its recorded text: an edit of the answer (or of the
    text alone) is an LLMReplayError naming the line, never a silently different answer."""
    path = tmp_path / "calls.jsonl"
    req = request("MOVE")
    line = json.loads(record_line(req, EchoBackend().complete(req)))
    path.write_text(json.dumps(line) + "\n")
    assert read_records(path)[0]["response"]["answer"] == {"action": "MOVE"}  # genuine: fine
    line["response"][field] = value
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(LLMReplayError, match=rf"calls\.jsonl:1: .*{message}"):
        read_records(path)
    line["response"] = "nope"
    line.pop("error", None)
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(LLMReplayError, match="not a dict"):
        read_records(path)


def test_record_refuses_a_backend_whose_answer_is_not_its_text(tmp_path: Path) -> None:
    import attrs

    class Liar(EchoBackend):
        backend_id = "liar"

        def configure(self, settings: LLMSettings) -> Liar:
            return Liar(settings)

        def complete(self, req):  # type: ignore[no-untyped-def]
            return attrs.evolve(super().complete(req), answer={"action": "RELEASE_RESULT"})

    register_llm_backend("liar", Liar)
    path = tmp_path / "calls.jsonl"
    recorded = _record_all(path, ["MOVE"], record_wraps="liar")
    assert recorded[0].startswith("error bad_response: LLM backend 'liar' returned an inconsistent")
    assert _replay_all(path, ["MOVE"]) == recorded  # the refusal replays as the same error
