"""The bad-input corpus: malformed specs, row files and settings that ``rhbatch run`` must
refuse before anything is sent.

Each ``Case`` is a directory of files (text, bytes, or a special file: a FIFO, a folder,
a sparse file, a symlink, an unreadable file), the command-line arguments and
environment of one ``rhbatch run s.yaml --out out``, and the fragments its stderr must
hold: whole problem lines where they can be known, naming the file and line, and the
job and field where the problem belongs to a job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

EP = "seedance-2.0/multimodal-video"
HEAD = f"version: 1\nendpoint: {EP}\n"
GOOD = HEAD + "jobs:\n  - {id: a, prompt: a paper boat}\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
AXIS = "[" + ", ".join(str(i) for i in range(40)) + "]"
CAP = "more than run.max_jobs (1,000,000); raise run.max_jobs or pass --max-jobs if you mean it"
OUTSIDE = "is not a path inside the output directory"
ANY_URL = "only http(s) URLs, data: URIs, asset:// references or local file paths are accepted"
NOT_UTF8 = "save the file as UTF-8"
RESOLUTIONS = '"480p", "720p", "native1080p", "1080p", "2k", "4k"'


@dataclass(frozen=True)
class Fifo:
    """A named pipe with no writer: opening it for reading blocks."""


@dataclass(frozen=True)
class Folder:
    """A directory where a file is expected."""


@dataclass(frozen=True)
class Sparse:
    """A file of ``size`` bytes that costs no disk: ``head``, then a hole."""

    size: int
    head: bytes = b""


@dataclass(frozen=True)
class Link:
    """A symbolic link to ``target``."""

    target: str


@dataclass(frozen=True)
class Unreadable:
    """A file its reader may not open (mode 000; root runs without its DAC override)."""

    data: bytes


Content = str | bytes | Fifo | Folder | Sparse | Link | Unreadable


@dataclass(frozen=True)
class Case:
    name: str
    area: str  # what kind of bad input: the corpus covers every area of the brief
    files: dict[str, Content]
    expect: tuple[str, ...]  # fragments of stderr
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    secret: str | None = None  # must appear nowhere in the output

    @property
    def unreadable(self) -> bool:
        return any(isinstance(c, Unreadable) for c in self.files.values())


def make(case: Case, root: Path) -> None:
    """Write a case's files under ``root``."""
    root.mkdir(parents=True)
    for rel, content in case.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, Fifo):
            os.mkfifo(path)
        elif isinstance(content, Folder):
            path.mkdir()
        elif isinstance(content, Sparse):
            with path.open("wb") as fh:
                fh.write(content.head)
                fh.truncate(content.size)
        elif isinstance(content, Link):
            path.symlink_to(content.target)
        else:
            path.write_bytes(content.data)
            path.chmod(0)


def spec(name: str, area: str, text: str, *expect: str, **files: Content) -> Case:
    """A case whose spec is ``text`` (as s.yaml) plus other files named by keyword
    (``rows_csv`` is rows.csv)."""
    named = {k.replace("_", ".", 1) if "." not in k else k: v for k, v in files.items()}
    return Case(name, area, {"s.yaml": text, **named}, expect)


def job(body: str, *expect: str, name: str, area: str, **files: Content) -> Case:
    """A one-job spec (id a, job 1, on line 4) with ``body`` as its extra keys."""
    return spec(
        name, area, HEAD + "jobs:\n  - {id: a, prompt: x, " + body + "}\n", *expect, **files
    )


def base_url(name: str, url: str, *expect: str, flag: bool = False) -> Case:
    if flag:
        return Case(name, "base-url", {"s.yaml": GOOD}, expect, args=("--base-url", url))
    return Case(name, "base-url", {"s.yaml": GOOD}, expect, env={"RUNNINGHUB_BASE_URL": url})


def run_setting(name: str, setting: str, *expect: str) -> Case:
    return spec(name, "run-settings", GOOD + f"run:\n  {setting}\n", *expect)


J1 = "s.yaml:4: job 1 (id a)"  # the one job of `job(...)` cases

CASES: list[Case] = [
    # --- YAML syntax ------------------------------------------------------------------------
    spec(
        "yaml-unclosed-list",
        "yaml",
        "version: 1\njobs:\n  - prompt: [unclosed\n",
        "s.yaml:4:1: YAML syntax error: ",
    ),
    spec(
        "yaml-tab-indent",
        "yaml",
        "version: 1\n\tendpoint: x\n",
        "s.yaml:2:1: YAML syntax error: found a tab character that violates indentation",
    ),
    spec(
        "yaml-bad-indent",
        "yaml",
        "version: 1\nendpoint: a\n  jobs: b\n",
        "s.yaml:3:7: YAML syntax error: mapping values are not allowed in this context",
    ),
    spec(
        "yaml-duplicate-key",
        "yaml",
        HEAD + "endpoint: x\n",
        "s.yaml:3: duplicate key 'endpoint' (first defined on line 2); "
        "YAML would silently keep only the last one",
    ),
    spec(
        "yaml-unterminated-quote",
        "yaml",
        'version: 1\nendpoint: "abc\n',
        "s.yaml:3:1: YAML syntax error: found unexpected end of stream",
    ),
    spec(
        "yaml-two-documents",
        "yaml",
        "version: 1\n---\nversion: 1\n",
        "s.yaml:2:1: YAML syntax error: but found another document",
    ),
    spec(
        "yaml-list-document",
        "yaml",
        "- version: 1\n",
        "s.yaml:1: a spec must be a mapping (version, endpoint, ...)",
    ),
    spec("yaml-empty", "yaml", "", "s.yaml:1: the spec is empty; start with `version: 1`"),
    spec(
        "yaml-alias-bomb",
        "yaml",
        "version: 1\nvars:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"  {chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]\n"
            for i in range(1, 10)
        ),
        "s.yaml:9: through its aliases (*name) this YAML stands for more than 10,000,000 "
        "values; write the values out, or use a matrix",
    ),
    spec(
        "yaml-deep-nesting",
        "yaml",
        "version: 1\nvars:\n  x: " + "[" * 900 + "]" * 900 + "\n",
        "s.yaml:3: nested more than 64 levels deep; a spec needs far fewer",
    ),
    spec(
        "yaml-recursive-alias",
        "yaml",
        "version: 1\nvars:\n  x: &x [*x]\n",
        "s.yaml:3:6: YAML syntax error: an alias (*name) inside its own anchor (&name) makes "
        "the value endless",
    ),
    # --- wrong types ---------------------------------------------------------------------------
    spec(
        "type-version-string",
        "types",
        f'version: "1"\nendpoint: {EP}\n',
        "s.yaml:1: version: unsupported version '1'; this rhbatch reads version 1",
    ),
    spec(
        "type-jobs-mapping",
        "types",
        HEAD + "jobs: {prompt: x}\n",
        's.yaml:3: jobs: {"prompt": "x"} is a mapping; expected a list',
    ),
    spec(
        "type-repeat-text",
        "types",
        HEAD + "repeat: three\njobs: [{prompt: x}]\n",
        's.yaml:3: repeat: "three" is a string; expected an integer',
    ),
    spec(
        "type-defaults-list",
        "types",
        HEAD + "defaults: [resolution]\n",
        's.yaml:3: defaults: ["resolution"] is a list; expected a mapping',
    ),
    spec(
        "type-matrix-scalar-axis",
        "types",
        HEAD + "matrix: {ratio: '16:9'}\njobs: [{prompt: x}]\n",
        's.yaml:3: matrix.ratio: "16:9" is a string; expected a list',
    ),
    spec(
        "type-job-not-mapping",
        "types",
        HEAD + "jobs: [hello]\n",
        's.yaml:3: jobs[0]: "hello" is a string; expected a mapping',
    ),
    spec(
        "type-name-with-space",
        "types",
        HEAD + "name: my batch\njobs: [{prompt: x}]\n",
        "s.yaml:3: name: 'my batch': use letters, digits, '.', '_' and '-' "
        "(it names the output directory)",
    ),
    spec(
        "type-naming-number",
        "types",
        GOOD + "output: {naming: 5}\n",
        "s.yaml:5: output.naming: 5 is an integer; expected a string",
    ),
    spec(
        "type-run-not-mapping",
        "types",
        GOOD + "run: 5\n",
        "s.yaml:5: run: 5 is an integer; expected a mapping",
    ),
    spec(
        "type-output-not-mapping",
        "types",
        GOOD + "output: [a]\n",
        's.yaml:5: output: ["a"] is a list; expected a mapping',
    ),
    job(
        "duration: 5",
        f'{J1}: duration: 5 is not one of the allowed values: "4", "5", "6", "7", "8", "9", '
        '"10", "11", "12", "13", "14", "15" (the values are strings: write "5" with quotes)',
        name="type-duration-number",
        area="types",
    ),
    job(
        "realPersonMode: 'yes'",
        f'{J1}: realPersonMode: "yes" is a string; expected a boolean (true or false)',
        name="type-boolean-as-text",
        area="types",
    ),
    # --- unknown keys, at every level -------------------------------------------------------
    spec(
        "unknown-top-level",
        "unknown-keys",
        GOOD + "defualts: {resolution: 720p}\n",
        "s.yaml:5: defualts: unknown key 'defualts'; did you mean 'defaults'? Allowed here: ",
    ),
    spec(
        "unknown-in-defaults",
        "unknown-keys",
        HEAD + "defaults: {promt: x}\njobs:\n  - {id: a, prompt: x}\n",
        "s.yaml:3: defaults.promt: unknown parameter 'promt': no job's endpoint has it "
        "(seedance-2.0/multimodal-video); did you mean 'prompt'?",
    ),
    job(
        "promt: hi",
        f"{J1}: promt: unknown parameter 'promt' for seedance-2.0/multimodal-video; "
        "did you mean 'prompt'?",
        name="unknown-in-job",
        area="unknown-keys",
    ),
    spec(
        "unknown-matrix-key",
        "unknown-keys",
        HEAD + "matrix:\n  mood: [calm, tense]\njobs: [{prompt: x}]\n",
        "s.yaml:4: matrix.mood: matrix key 'mood' is not a parameter of "
        "seedance-2.0/multimodal-video and no {mood} placeholder uses it",
    ),
    spec(
        "unknown-zip-key",
        "unknown-keys",
        HEAD + "matrix:\n  zip:\n    - {ratio: '16:9', mood: calm}\njobs: [{prompt: x}]\n",
        "s.yaml:5: matrix.mood: matrix key 'mood' is not a parameter of "
        "seedance-2.0/multimodal-video and no {mood} placeholder uses it",
    ),
    spec(
        "unknown-in-output",
        "unknown-keys",
        GOOD + "output:\n  nameing: '{id}.{ext}'\n",
        "s.yaml:6: output.nameing: unknown key 'nameing'; did you mean 'naming'? "
        "Allowed here: dir, naming",
    ),
    spec(
        "unknown-in-run",
        "unknown-keys",
        GOOD + "run:\n  concurency: 4\n",
        "s.yaml:6: run.concurency: unknown key 'concurency'; did you mean 'concurrency'?",
    ),
    spec(
        "unknown-in-jobs-from",
        "unknown-keys",
        HEAD + "jobs_from: {path: rows.csv, fromat: csv}\n",
        "s.yaml:3: jobs_from: ",
        rows_csv="prompt\nx\n",
    ),
    spec(
        "unknown-row-column",
        "unknown-keys",
        HEAD + "jobs_from: rows.csv\n",
        "rows.csv:2: row 2: ratoi: column 'ratoi' is not a parameter of "
        "seedance-2.0/multimodal-video and no {ratoi} placeholder uses it",
        rows_csv="prompt,ratoi\nx,16:9\n",
    ),
    # --- unknown endpoints -----------------------------------------------------------------
    spec(
        "endpoint-unknown-top",
        "endpoints",
        "version: 1\nendpoint: seedance-3.0/multimodal\njobs: [{prompt: x}]\n",
        "s.yaml:2: endpoint: unknown endpoint 'seedance-3.0/multimodal'; did you mean ",
    ),
    spec(
        "endpoint-unknown-job",
        "endpoints",
        HEAD + "jobs:\n  - {prompt: x, endpoint: nope-model/x}\n",
        "s.yaml:4: endpoint: unknown endpoint 'nope-model/x'",
    ),
    spec(
        "endpoint-unknown-row",
        "endpoints",
        HEAD + "jobs_from: rows.csv\n",
        "rows.csv:2: endpoint: unknown endpoint 'nope-model/x'",
        rows_csv="prompt,endpoint\nx,nope-model/x\n",
    ),
    spec(
        "endpoint-none",
        "endpoints",
        "version: 1\njobs:\n  - {prompt: x}\n",
        "s.yaml:3: jobs[0]: no endpoint: set `endpoint:` at the top of the spec or on this job",
    ),
    # --- bad enum values ---------------------------------------------------------------------
    job(
        "resolution: 1440p",
        f'{J1}: resolution: "1440p" is not one of the allowed values: {RESOLUTIONS}',
        name="enum-resolution",
        area="enums",
    ),
    spec(
        "enum-from-matrix",
        "enums",
        HEAD + "matrix:\n  ratio: ['16:9', '2:1']\njobs:\n  - {id: 'a-{ratio}', prompt: x}\n",
        's.yaml:4: job 2 (id a-2-1): ratio: "2:1" is not one of the allowed values: ',
    ),
    spec(
        "enum-csv-cell",
        "enums",
        HEAD + "jobs_from: rows.csv\n",
        'rows.csv:2: row 2: generateAudio: "maybe": expected true or false',
        rows_csv="prompt,generateAudio\nx,maybe\n",
    ),
    # --- counts ----------------------------------------------------------------------------------
    job(
        "imageUrls: [" + ", ".join(f"'https://e.com/{i}.png'" for i in range(10)) + "]",
        f"{J1}: imageUrls: 10 items; at most 9 allowed",
        name="count-too-many-images",
        area="counts",
    ),
    spec(
        "count-zip-lengths",
        "counts",
        HEAD + "matrix:\n  zip:\n    ratio: ['16:9', '9:16']\n    duration: ['4']\n"
        "jobs: [{prompt: x}]\n",
        "s.yaml:4: matrix.zip: zip lists must have the same length (ratio: 2, duration: 1)",
    ),
    # --- missing required parameters ---------------------------------------------------------
    spec(
        "required-prompt",
        "required",
        HEAD + "jobs:\n  - {id: a, resolution: 720p}\n",
        "s.yaml:4: job 1 (id a): prompt: missing required parameter 'prompt'",
    ),
    spec(
        "required-in-row",
        "required",
        HEAD + "jobs_from: rows.csv\n",
        "rows.csv:2: job 1 (id a): prompt: missing required parameter 'prompt'",
        rows_csv="id,resolution\na,720p\n",
    ),
    # --- missing, unreadable and special files --------------------------------------------
    spec(
        "rows-missing",
        "files",
        HEAD + "jobs_from: nope.csv\n",
        "s.yaml:3: jobs_from: no such file 'nope.csv' (looked at ",
    ),
    spec(
        "rows-directory",
        "files",
        HEAD + "jobs_from: rows.csv\n",
        "s.yaml:3: jobs_from: 'rows.csv' is a directory, not a regular file",
        rows_csv=Folder(),
    ),
    spec(
        "rows-fifo",
        "files",
        HEAD + "jobs_from: rows.csv\n",
        "s.yaml:3: jobs_from: 'rows.csv' is a named pipe (FIFO), not a regular file",
        rows_csv=Fifo(),
    ),
    spec(
        "rows-dev-zero",
        "files",
        HEAD + "jobs_from: {path: /dev/zero, format: csv}\n",
        "s.yaml:3: jobs_from: '/dev/zero' is a character device, not a regular file",
    ),
    spec(
        "rows-dev-stdin",
        "files",
        HEAD + "jobs_from: {path: /dev/stdin, format: jsonl}\n",
        "s.yaml:3: jobs_from: '/dev/stdin' is a named pipe (FIFO), not a regular file",
    ),
    spec(
        "rows-link-to-dev-zero",
        "files",
        HEAD + "jobs_from: rows.jsonl\n",
        "s.yaml:3: jobs_from: 'rows.jsonl' is a character device, not a regular file",
        rows_jsonl=Link("/dev/zero"),
    ),
    spec(
        "rows-too-big",
        "files",
        HEAD + "jobs_from: rows.csv\n",
        "s.yaml:3: jobs_from: 'rows.csv' is 300.0 MiB; rhbatch reads files of at most 256 MiB",
        rows_csv=Sparse(300 * 1024 * 1024, b"prompt\n"),
    ),
    spec(
        "rows-unreadable",
        "files",
        HEAD + "jobs_from: rows.csv\n",
        "s.yaml:3: jobs_from: 'rows.csv' cannot be read: permission denied",
        rows_csv=Unreadable(b"prompt\nx\n"),
    ),
    spec(
        "rows-unknown-extension",
        "files",
        HEAD + "jobs_from: rows.txt\n",
        "s.yaml:3: jobs_from: cannot tell the format of 'rows.txt' from its extension; "
        "use .csv or .jsonl, or write {path: ..., format: csv|jsonl}",
        rows_txt="prompt\nx\n",
    ),
    spec(
        "rows-empty",
        "files",
        HEAD + "jobs_from: rows.csv\n",
        "s.yaml:3: jobs_from: 'rows.csv' has no rows",
        rows_csv="",
    ),
    job(
        "imageUrls: [missing.png]",
        f"{J1}: imageUrls[0]: no such file (looked at ",
        name="ref-missing",
        area="files",
    ),
    job(
        "imageUrls: [refs]",
        f"{J1}: imageUrls[0]: 'refs' is a directory, not a regular file",
        name="ref-directory",
        area="files",
        refs=Folder(),
    ),
    job(
        "imageUrls: [ref.png]",
        f"{J1}: imageUrls[0]: 'ref.png' is a named pipe (FIFO), not a regular file",
        name="ref-fifo",
        area="files",
        ref_png=Fifo(),
    ),
    job(
        "imageUrls: [/dev/zero]",
        f"{J1}: imageUrls[0]: '/dev/zero' is a character device, not a regular file",
        name="ref-dev-zero",
        area="files",
    ),
    job(
        "imageUrls: [ref.png]",
        f"{J1}: imageUrls[0]: 'ref.png' cannot be read: permission denied",
        name="ref-unreadable",
        area="files",
        ref_png=Unreadable(PNG),
    ),
    job(
        "imageUrls: [ref.png]",
        f"{J1}: imageUrls[0]: 'ref.png' is an empty file",
        name="ref-empty",
        area="files",
        ref_png=b"",
    ),
    job(
        "imageUrls: [ref.png]",
        f"{J1}: imageUrls[0]: 'ref.png' is 40.0 MB; at most 30 MB allowed",
        name="ref-too-big",
        area="files",
        ref_png=Sparse(40 * 1024 * 1024, PNG),
    ),
    job(
        "imageUrls: [ref.png]",
        f"{J1}: imageUrls[0]: 'ref.png' is GIF (by its content); accepted: ",
        name="ref-wrong-format",
        area="files",
        ref_png=b"GIF89a" + b"\0" * 32,
    ),
    Case(
        "spec-directory",
        "files",
        {"s.yaml": Folder()},
        ("s.yaml: is a directory, not a regular file",),
    ),
    Case(
        "spec-fifo",
        "files",
        {"s.yaml": Fifo()},
        ("s.yaml: is a named pipe (FIFO), not a regular file",),
    ),
    Case("spec-missing", "files", {}, ("s.yaml: no such spec file",)),
    Case(
        "spec-link-to-dev-zero",
        "files",
        {"s.yaml": Link("/dev/zero")},
        ("s.yaml: is a character device, not a regular file",),
    ),
    # --- encodings ---------------------------------------------------------------------------
    Case(
        "enc-spec-latin1",
        "encodings",
        {"s.yaml": (HEAD + "jobs: [{prompt: caf\xe9}]\n").encode("latin-1")},
        (f"s.yaml:3: not UTF-8 text (byte 0xe9 at column 20); {NOT_UTF8}",),
    ),
    Case(
        "enc-spec-utf16-bom",
        "encodings",
        {"s.yaml": GOOD.encode("utf-16")},
        (f"s.yaml:1: UTF-16 text, not UTF-8; {NOT_UTF8}",),
    ),
    Case(
        "enc-spec-utf32-bom",
        "encodings",
        {"s.yaml": GOOD.encode("utf-32")},
        (f"s.yaml:1: UTF-32 text, not UTF-8; {NOT_UTF8}",),
    ),
    spec(
        "enc-rows-latin1",
        "encodings",
        HEAD + "jobs_from: rows.csv\n",
        f"rows.csv:3: not UTF-8 text (byte 0xe9 at column 4); {NOT_UTF8}",
        rows_csv="prompt\nok\ncaf\xe9\n".encode("latin-1"),
    ),
    spec(
        "enc-rows-utf16-bom",
        "encodings",
        HEAD + "jobs_from: rows.csv\n",
        f"rows.csv:1: UTF-16 text, not UTF-8; {NOT_UTF8}",
        rows_csv="prompt\nx\n".encode("utf-16"),
    ),
    spec(
        "enc-rows-utf16-no-bom",
        "encodings",
        HEAD + "jobs_from: rows.csv\n",
        f"rows.csv:1: a NUL byte at column 2 (UTF-16 text?); {NOT_UTF8}",
        rows_csv="prompt\nx\n".encode("utf-16-le"),
    ),
    spec(
        "enc-jsonl-cp1252",
        "encodings",
        HEAD + "jobs_from: rows.jsonl\n",
        f"rows.jsonl:2: not UTF-8 text (byte 0x93 at column 12); {NOT_UTF8}",
        rows_jsonl='{"prompt": "a"}\n{"prompt": \u201cquoted\u201d}\n'.encode("cp1252"),
    ),
    # --- duplicate ids ---------------------------------------------------------------------------
    spec(
        "dup-explicit-ids",
        "duplicates",
        HEAD + "jobs:\n  - {id: twin, prompt: one}\n  - {id: twin, prompt: two}\n",
        "s.yaml:5: job 2 (id twin): id: duplicate id 'twin', also job 1 (id twin) (line 4); "
        "give each job its own id",
    ),
    spec(
        "dup-identical-jobs",
        "duplicates",
        HEAD + "jobs:\n  - {prompt: same}\n  - {prompt: same}\n",
        ": id: same endpoint and parameters as job 1 (",
    ),
    spec(
        "dup-id-without-matrix-key",
        "duplicates",
        HEAD + "matrix:\n  ratio: ['16:9', '9:16']\njobs:\n  - {id: shot, prompt: x}\n",
        "s.yaml:6: job 2 (id shot): id: duplicate id 'shot', also job 1 (id shot) (line 6)",
    ),
    spec(
        "dup-ids-in-rows",
        "duplicates",
        HEAD + "jobs_from: rows.csv\n",
        "rows.csv:3: job 2 (id r1): id: duplicate id 'r1', also job 1 (id r1) (line 2)",
        rows_csv="id,prompt\nr1,one\nr1,two\n",
    ),
    spec(
        "dup-ids-differ-in-case",
        "duplicates",
        HEAD + "jobs:\n  - {id: shot, prompt: x}\n  - {id: Shot, prompt: y}\n",
        "s.yaml:5: job 2 (id Shot): output.naming: its first result would be written to "
        "'Shot/1.mp4' and job 1's (id shot, line 4) to 'shot/1.mp4': one file where letter "
        "case does not count (macOS, Windows)",
    ),
    # --- placeholders ------------------------------------------------------------------------
    spec(
        "ph-unknown-name",
        "placeholders",
        HEAD + "vars: {subject: fox}\njobs:\n  - {id: a, prompt: 'a {subjct}'}\n",
        "s.yaml:5: job 1: prompt: unknown placeholder {subjct} (did you mean {subject}?); "
        "known here: copy, subject",
    ),
    spec(
        "ph-unbalanced-open",
        "placeholders",
        HEAD + "jobs:\n  - {id: a, prompt: 'a {subject'}\n",
        "s.yaml:4: job 1: prompt: expected '}' before end of string in 'a {subject'; "
        "write {{ and }} for literal braces",
    ),
    spec(
        "ph-stray-close",
        "placeholders",
        HEAD + "jobs:\n  - {id: a, prompt: 'a } b'}\n",
        "s.yaml:4: job 1: prompt: Single '}' encountered in format string in 'a } b'",
    ),
    spec(
        "ph-format-spec",
        "placeholders",
        HEAD + "vars: {x: 1}\njobs:\n  - {id: a, prompt: 'take {x:>3}'}\n",
        "s.yaml:5: job 1: prompt: invalid placeholder {x:>3}: use {name} with letters, digits "
        "and _",
    ),
    spec(
        "ph-unknown-in-id",
        "placeholders",
        HEAD + "jobs:\n  - {id: 'shot-{ratoi}', prompt: x}\n",
        "s.yaml:4: job 1: id: unknown placeholder {ratoi}",
    ),
    spec(
        "ph-list-in-text",
        "placeholders",
        HEAD + "vars: {refs: [a, b]}\njobs:\n  - {id: a, prompt: 'with {refs}'}\n",
        "s.yaml:5: job 1: prompt: {refs} is a list; a list can only be the whole value",
    ),
    spec(
        "ph-naming-unknown",
        "placeholders",
        GOOD + "output: {naming: '{mood}/{id}.{ext}'}\n",
        "s.yaml:5: job 1 (id a): output.naming: {mood} in output.naming is not {id}, {n}, "
        "{ext}, {endpoint}, {index} or a parameter of this job",
    ),
    spec(
        "ph-naming-unbalanced",
        "placeholders",
        GOOD + "output: {naming: '{id/{n}.{ext}'}\n",
        "s.yaml:5: output.naming: unexpected '{' in field name in '{id/{n}.{ext}'",
    ),
    # --- explosions ----------------------------------------------------------------------
    spec(
        "boom-matrix-40-to-the-6",
        "explosions",
        HEAD
        + "defaults: {prompt: 'x {a}{b}{c}{d}{e}{f}'}\nmatrix:\n"
        + "".join(f"  {k}: {AXIS}\n" for k in "abcdef"),
        f"s.yaml:4: this spec expands to 4,096,000,000 jobs, {CAP}",
    ),
    spec(
        "boom-repeat",
        "explosions",
        HEAD + f"repeat: 10000\nmatrix:\n  take: {AXIS}\n"
        "  ratio: ['16:9', '9:16', '1:1']\njobs:\n  - prompt: 'p {take}'\n",
        f"s.yaml:3: this spec expands to 1,200,000 jobs, {CAP}",
    ),
    spec(
        "boom-job-matrix",
        "explosions",
        HEAD
        + "jobs:\n  - prompt: 'p {a}{b}{c}{d}'\n    matrix:\n"
        + "".join(f"      {k}: {AXIS}\n" for k in "abcd"),
        f"s.yaml:5: this spec expands to 2,560,000 jobs, {CAP}",
    ),
    spec(
        "boom-rows-times-matrix",
        "explosions",
        HEAD + f"matrix:\n  a: {AXIS}\n  b: {AXIS}\njobs_from: rows.csv\n",
        f"s.yaml:6: this spec expands to at least 1,600,000 jobs, {CAP}",
        rows_csv="prompt\n" + "p {a}{b}\n" * 1000,
    ),
    spec(
        "boom-row-repeat",
        "explosions",
        HEAD + f"matrix:\n  a: {AXIS}\n  b: {AXIS}\njobs_from: rows.csv\n",
        f"rows.csv:2: this spec expands to 16,000,000 jobs, {CAP}",
        rows_csv="prompt,repeat\np {a}{b},10000\n",
    ),
    Case(
        "boom-max-jobs-flag",
        "explosions",
        {"s.yaml": HEAD + "matrix:\n  ratio: ['16:9', '9:16', '1:1']\njobs: [{prompt: x}]\n"},
        (
            "s.yaml:3: this spec expands to 3 jobs, more than --max-jobs (2); pass a larger "
            "--max-jobs if you mean it",
        ),
        args=("--max-jobs", "2"),
    ),
    spec(
        "boom-run-max-jobs",
        "explosions",
        HEAD + "run: {max_jobs: 3}\njobs:\n" + "".join(f"  - prompt: p{i}\n" for i in range(4)),
        "s.yaml:4: this spec expands to 4 jobs, more than run.max_jobs (3); raise "
        "run.max_jobs or pass --max-jobs if you mean it",
    ),
    # --- path tricks in output.naming --------------------------------------------------------
    spec(
        "naming-dotdot",
        "naming",
        GOOD + "output: {naming: '../x/{id}.{ext}'}\n",
        f"s.yaml:5: output.naming: '../x/{{id}}.{{ext}}' {OUTSIDE}: it has an empty, '.' or "
        "'..' component",
    ),
    spec(
        "naming-absolute",
        "naming",
        GOOD + "output: {naming: '/tmp/{id}.{ext}'}\n",
        f"s.yaml:5: output.naming: '/tmp/{{id}}.{{ext}}' {OUTSIDE}: it is absolute",
    ),
    spec(
        "naming-drive",
        "naming",
        GOOD + "output: {naming: 'C:\\x\\{id}.{ext}'}\n",
        f"s.yaml:5: output.naming: 'C:\\\\x\\\\{{id}}.{{ext}}' {OUTSIDE}: it names a drive",
    ),
    spec(
        "naming-empty-component",
        "naming",
        GOOD + "output: {naming: '{id}//{n}.{ext}'}\n",
        f"s.yaml:5: output.naming: '{{id}}//{{n}}.{{ext}}' {OUTSIDE}: it has an empty",
    ),
    spec(
        "naming-state-dir",
        "naming",
        GOOD + "output: {naming: '.rhbatch/{id}.{ext}'}\n",
        f"s.yaml:5: output.naming: '.rhbatch/{{id}}.{{ext}}' {OUTSIDE}: it is one of rhbatch's "
        "own files (.rhbatch/, history/, manifest.jsonl, run.json, metadata.jsonl, report.html)",
    ),
    spec(
        "naming-dotdot-from-value",
        "naming",
        HEAD + "jobs:\n  - {id: a, prompt: '..'}\n  - {id: b, prompt: fine}\n"
        "output: {naming: '{prompt}/{id}.{ext}'}\n",
        f"s.yaml:6: job 1 (id a): output.naming: gives '../a.mp4' for this job, which {OUTSIDE}: "
        "it has an empty, '.' or '..' component",
    ),
    spec(
        "naming-long-value",
        "naming",
        HEAD + "jobs:\n  - {id: a, prompt: " + "p" * 250 + "}\n"
        "output: {naming: '{prompt}.{ext}'}\n",
        f"s.yaml:5: job 1 (id a): output.naming: gives '{'p' * 77}...' for this job, which "
        f"{OUTSIDE}: a component is longer than 200 characters",
    ),
    spec(
        "naming-long-in-utf8",
        "naming",
        GOOD + "output: {naming: '" + "镜头" * 50 + "/{id}.{ext}'}\n",
        f"s.yaml:5: output.naming: '{'镜头' * 50}/{{id}}.{{ext}}' {OUTSIDE}: a component is "
        "longer than 240 bytes in UTF-8",
    ),
    spec(
        "naming-collision",
        "naming",
        HEAD + "jobs:\n  - {id: a, prompt: x}\n  - {id: b, prompt: y}\n"
        "output: {naming: '{n}.{ext}'}\n",
        "s.yaml:5: job 2 (id b): output.naming: its first result would be written to '1.mp4', "
        "the same file as job 1's (id a, line 4); make output.naming tell them apart, e.g. "
        "with {id}",
    ),
    spec(
        "naming-list-parameter",
        "naming",
        HEAD + "jobs:\n  - {id: a, prompt: x, imageUrls: ['https://e.com/a.png']}\n"
        "output: {naming: '{imageUrls}.{ext}'}\n",
        "s.yaml:5: job 1 (id a): output.naming: {imageUrls} in output.naming is a list or "
        "mapping for this job; only text, numbers and true/false can name a file",
    ),
    # --- path tricks in reference paths ------------------------------------------------------
    job(
        'imageUrls: ["ref\\0.png"]',
        f"{J1}: imageUrls[0]: 'ref\\x00.png' is not a usable path: it contains a NUL character",
        name="refpath-nul",
        area="ref-paths",
    ),
    job(
        "imageUrls: [ref.png/x.png]",
        f"{J1}: imageUrls[0]: no such file (looked at ",
        name="refpath-through-a-file",
        area="ref-paths",
        ref_png=PNG,
    ),
    job(
        "imageUrls: [../../../../../../../../dev/zero]",
        f"{J1}: imageUrls[0]: '../../../../../../../../dev/zero' is a character device, "
        "not a regular file",
        name="refpath-dotdot-to-device",
        area="ref-paths",
    ),
    job(
        "imageUrls: [ref.png]",
        f"{J1}: imageUrls[0]: 'ref.png' is a character device, not a regular file",
        name="refpath-link-to-device",
        area="ref-paths",
        ref_png=Link("/dev/urandom"),
    ),
    job(
        "imageUrls: [loop.png]",
        f"{J1}: imageUrls[0]: 'loop.png' cannot be read: too many levels of symbolic links",
        name="refpath-symlink-loop",
        area="ref-paths",
        loop_png=Link("loop.png"),
    ),
    job(
        "imageUrls: [/etc/passwd]",
        f"{J1}: imageUrls[0]: '/etc/passwd': its format is not recognised, by content or by "
        "extension; accepted: ",
        name="refpath-system-file",
        area="ref-paths",
    ),
    # --- URL schemes in media parameters ---------------------------------------------------
    job(
        "imageUrls: ['file:///etc/passwd']",
        f"{J1}: imageUrls[0]: 'file:///etc/passwd': {ANY_URL}",
        name="url-file",
        area="url-schemes",
    ),
    job(
        "imageUrls: ['ftp://example.com/a.png']",
        f"{J1}: imageUrls[0]: 'ftp://example.com/a.png': {ANY_URL}",
        name="url-ftp",
        area="url-schemes",
    ),
    job(
        "imageUrls: ['javascript:alert(1)']",
        f"{J1}: imageUrls[0]: 'javascript:alert(1)': {ANY_URL}",
        name="url-javascript",
        area="url-schemes",
    ),
    job(
        "videoUrls: ['https://exa mple.com/a.mp4']",
        f"{J1}: videoUrls[0]: 'https://exa mple.com/a.mp4' contains spaces or control "
        "characters (write a space as %20)",
        name="url-space",
        area="url-schemes",
    ),
    job(
        "audioUrls: ['https://example.com:70000/a.mp3']",
        f"{J1}: audioUrls[0]: 'https://example.com:70000/a.mp3' has an invalid port; ports "
        "are 1 to 65535",
        name="url-bad-port",
        area="url-schemes",
    ),
    job(
        "imageUrls: ['http:///a.png']",
        f"{J1}: imageUrls[0]: 'http:///a.png' is not a complete URL (it has no host)",
        name="url-no-host",
        area="url-schemes",
    ),
    job(
        "imageUrls: ['data:video/mp4;base64,AAAA']",
        f"{J1}: imageUrls[0]: a data: URI here must hold image (data:image/...)",
        name="url-data-wrong-kind",
        area="url-schemes",
    ),
    job(
        "imageUrls: ['data:image/png;base64']",
        f"{J1}: imageUrls[0]: 'data:image/png;base64' is not a complete data: URI",
        name="url-data-no-comma",
        area="url-schemes",
    ),
    # --- base URLs (checked by run, before anything is made) ---------------------------------
    Case(
        "base-credentials-env",
        "base-url",
        {"s.yaml": GOOD},
        (
            "rhbatch: error: $RUNNINGHUB_BASE_URL 'http://***@127.0.0.1:9/' must not hold a "
            "user name or password",
        ),
        env={"RUNNINGHUB_BASE_URL": "http://rh:s3cret-pw@127.0.0.1:9/"},
        secret="s3cret-pw",
    ),
    Case(
        "base-credentials-flag",
        "base-url",
        {"s.yaml": GOOD},
        (
            "rhbatch: error: --base-url 'https://***@www.runninghub.ai' must not hold a user "
            "name or password",
        ),
        args=("--base-url", "https://me:s3cret-pw@www.runninghub.ai"),
        secret="s3cret-pw",
    ),
    base_url(
        "base-ftp",
        "ftp://www.runninghub.ai",
        "rhbatch: error: $RUNNINGHUB_BASE_URL 'ftp://www.runninghub.ai' must start with "
        "http:// or https://",
    ),
    base_url(
        "base-no-host",
        "https://",
        "rhbatch: error: --base-url 'https://' is not a complete URL (it has no host)",
        flag=True,
    ),
    base_url(
        "base-bad-port",
        "http://127.0.0.1:99999",
        "rhbatch: error: $RUNNINGHUB_BASE_URL 'http://127.0.0.1:99999' has an invalid port; "
        "ports are 1 to 65535",
    ),
    base_url(
        "base-query",
        "https://www.runninghub.ai/?region=cn",
        "rhbatch: error: --base-url 'https://www.runninghub.ai/?region=cn' must not have a "
        "query (?...) or a fragment (#...)",
        flag=True,
    ),
    base_url(
        "base-fragment",
        "https://www.runninghub.ai#x",
        "must not have a query (?...) or a fragment (#...)",
    ),
    base_url(
        "base-space",
        "https://www.running hub.ai",
        "rhbatch: error: $RUNNINGHUB_BASE_URL 'https://www.running hub.ai' contains spaces or "
        "control characters",
    ),
    base_url(
        "base-control-character",
        "https://www.runninghub.ai/\x1b[2J",
        "rhbatch: error: --base-url 'https://www.runninghub.ai/\\x1b[2J' contains spaces or "
        "control characters",
        flag=True,
    ),
    base_url(
        "base-no-scheme",
        "www.runninghub.ai",
        "rhbatch: error: $RUNNINGHUB_BASE_URL 'www.runninghub.ai' must start with http:// or "
        "https://",
    ),
    base_url(
        "base-javascript",
        "javascript:alert(1)",
        "rhbatch: error: --base-url 'javascript:alert(1)' must start with http:// or https://",
        flag=True,
    ),
    # --- run settings -----------------------------------------------------------------------
    run_setting("run-concurrency-zero", "concurrency: 0", "s.yaml:6: run.concurrency: 0 is "),
    run_setting("run-concurrency-huge", "concurrency: 5000", "s.yaml:6: run.concurrency: 5000"),
    run_setting("run-poll-zero", "poll_interval: 0", "s.yaml:6: run.poll_interval: 0 is "),
    run_setting("run-timeout-negative", "timeout: -1", "s.yaml:6: run.timeout: -1 is "),
    run_setting("run-retries-huge", "retries: 99", "s.yaml:6: run.retries: 99 is "),
    run_setting(
        "run-download-text",
        "download: 'yes'",
        's.yaml:6: run.download: "yes" is a string; expected a boolean (true or false)',
    ),
    run_setting("run-signal-negative", "signal_interval: -1", "s.yaml:6: run.signal_interval: -1"),
    run_setting("run-max-jobs-zero", "max_jobs: 0", "s.yaml:6: run.max_jobs: 0 is below the"),
    run_setting(
        "run-max-jobs-text",
        "max_jobs: many",
        's.yaml:6: run.max_jobs: "many" is a string; expected an integer',
    ),
    run_setting(
        "run-max-download-zero", "max_download_mb: 0", "s.yaml:6: run.max_download_mb: 0 is "
    ),
    run_setting(
        "run-download-timeout-zero",
        "download_timeout: 0",
        "s.yaml:6: run.download_timeout: 0 is ",
    ),
    run_setting(
        "run-min-rate-negative",
        "download_min_rate: -1",
        "s.yaml:6: run.download_min_rate: -1 is below the minimum 0",
    ),
    Case(
        "run-max-jobs-flag-zero",
        "run-settings",
        {"s.yaml": GOOD},
        ("rhbatch: error: --max-jobs must be at least 1, not 0",),
        args=("--max-jobs", "0"),
    ),
    Case(
        "run-max-jobs-flag-text",
        "run-settings",
        {"s.yaml": GOOD},
        ("rhbatch run: error: argument --max-jobs: invalid int value: 'lots'",),
        args=("--max-jobs", "lots"),
    ),
]
