"""Generate ``schemas/comfyui-nodes.json``: the inputs of ComfyUI's node classes, read statically.

This script owns, and is the only writer of, ``schemas/comfyui-nodes.json``. It reads the Python
source of ComfyUI (``nodes.py`` and ``comfy_extras/``) and of the custom node packs in ``PACKS``,
at the commits recorded there, out of git mirrors (bare git directories under ``--mirror-root``,
named ``<owner>+<name>/repo``), and extracts for every registered node class its inputs (type,
default, min, max, step, choices), its outputs and whether it is an output node. Nothing is
imported or run: every file is parsed with ``ast`` and evaluated by a small interpreter of
constant expressions (``_Evaluator``), so neither torch nor the packs are needed.

What is read
  * Registrations: module-level dicts named ``*CLASS_MAPPINGS`` (literal, ``.update(...)`` and
    ``X["name"] = Class``) in any file of a pack, and KJNodes' ``NODE_CONFIG``
    (``{"name": {"class": Class}}``); for ComfyUI's newer nodes, the classes listed by an
    extension's ``get_node_list`` whose ``define_schema`` returns ``io.Schema(node_id=...)``.
  * Inputs: what ``INPUT_TYPES`` returns (its body is interpreted statement by statement:
    assignments, ``.update``/``.append``, ``try`` bodies; loops only as noted below), or the
    ``inputs=[io.Int.Input("seed", min=..., max=...), ...]`` of ``io.Schema``. A class inherits
    ``INPUT_TYPES``, ``RETURN_TYPES`` and ``OUTPUT_NODE`` from its bases.
  * Names are resolved across modules: module constants, class attributes (``cls.X``, ``s.X``,
    ``Class.X``), imports (relative ones within the pack, absolute ones within the pack and then
    ComfyUI, so ``comfy.samplers.KSampler.SAMPLERS`` and ``nodes.MAX_RESOLUTION`` are read from
    ComfyUI's own files), functions whose body is a single ``return``, f-strings and
    ``str.format``.

The rules of the output (the format is ``rhbatch-comfyui-nodes/1``)
  * ``type``: INT, FLOAT, STRING, BOOLEAN as declared; a list of choices, ``"COMBO"`` (with
    ``{"options": [...]}``) or ``io.Combo`` is COMBO; any other name is a link type and gets
    ``"link": true``. An input whose type cannot be resolved is left out of ``inputs`` and named in
    the node's ``unresolved`` list; a part that cannot be read at all is named there in
    parentheses: ``(required)``, ``(optional)``, ``(INPUT_TYPES)``, ``(input)`` (an io input).
  * ``choices``: the list when it resolves statically. Choices listed from a folder of the
    server (``folder_paths.get_filename_list("loras")``, or a listing of the input directory, also
    when filtered by a comprehension or collected by a loop) are ``null`` with ``choices_from``:
    the folder name (``"input"`` for the input directory). Choices that neither resolve nor come
    from one folder are left out (no ``choices`` key).
  * ``default``, ``min``, ``max``, ``step`` when given and resolved (numbers only when finite);
    ``multiline: true`` for multiline strings; ``control_after_generate: true`` when declared.
  * ``optional``: the names declared under ``"optional"`` (or ``optional=True``); hidden inputs
    are left out.
  * ``media`` (``image``, ``video``, ``audio``), on an input that names a file to load:
      1. an upload flag on the input (``image_upload``, ``video_upload``, ``audio_upload``, or
         ``upload=io.UploadType.image|video|audio``);
      2. else a COMBO whose choices list the input directory, in a class named for what it loads
         (``Video`` -> video, ``Audio`` -> audio, ``Image`` or ``Mask`` -> image; VHS adds its
         upload widgets in JavaScript, so ``VHS_LoadVideo`` has no flag in Python);
      3. else a VideoHelperSuite path input (``vhs_path_extensions``): its extensions tell the
         kind, and ``accepts: url_or_path`` (VHS opens http(s) URLs as well as paths); an
         input named ``directory`` there, or a COMBO of input sub-directories, takes a folder of
         images: ``media: image``, ``accepts: directory``;
      4. else the table ``PATH_INPUTS`` below: loaders of the packs whose field takes a path or a
         URL without any flag saying so (read from their load functions).
  * ``output_node``: ``OUTPUT_NODE = True`` or ``io.Schema(is_output_node=True)``. ``output_kind``
    (``image``, ``video``, ``audio``) on an output node that writes or previews media: its class
    name (node id or Python class) says Save or Preview or Combine, and it takes an IMAGE, VIDEO
    or AUDIO input; the kind is video when the name says Video, Animated, WEBM or GIF, else that
    of the first such input.

Usage::

    python -m tools.gen_nodes --mirror-root DIR --out schemas/comfyui-nodes.json
    python -m tools.gen_nodes --mirror-root DIR --check   # regenerate and compare

``--check`` needs the mirrors, which CI cannot fetch: CI checks only the committed file's shape
and known facts (``tests/test_node_defs.py``). Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "schemas" / "comfyui-nodes.json"
FORMAT = "rhbatch-comfyui-nodes/1"
GENERATOR = "tools/gen_nodes.py"
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN"})
# What an output node's input says it writes (a preview of a MASK is an image).
OUTPUT_LINK_TYPES = {"IMAGE": "image", "MASK": "image", "VIDEO": "video", "AUDIO": "audio"}
# Names of modules outside the sources whose constants nodes use as bounds.
KNOWN_CONSTANTS = {("sys", "maxsize"): 2**63 - 1}


@dataclass(frozen=True)
class Pack:
    name: str
    repo: str  # owner/name on GitHub
    commit: str
    node_files: tuple[str, ...] = ()  # globs of the files whose classes may be nodes (() = all)
    sys_paths: tuple[str, ...] = ()  # folders the pack puts on sys.path for its absolute imports


# The most used packs first (tools/data/comfyui-node-popularity.json); ComfyUI itself first of all.
PACKS = (
    Pack(
        "comfyui",
        "Comfy-Org/ComfyUI",  # formerly comfyanonymous/ComfyUI
        "a125cd84b054a57729b5eecab930ca9408719832",
        ("nodes.py", "comfy_extras/*.py"),
    ),
    Pack(
        "ComfyUI-VideoHelperSuite",
        "Kosinkadink/ComfyUI-VideoHelperSuite",
        "4ee72c065db22c9d96c2427954dc69e7b908444b",
    ),
    Pack(
        "comfyui_controlnet_aux",
        "Fannovel16/comfyui_controlnet_aux",
        "e8b689a513c3e6b63edc44066560ca5919c0576e",
    ),
    Pack(
        "ComfyUI_essentials", "cubiq/ComfyUI_essentials", "33ff89fd354d8ec3ab6affb605a79a931b445d99"
    ),
    Pack(
        "ComfyUI_IPAdapter_plus",
        "cubiq/ComfyUI_IPAdapter_plus",
        "9d076a3df0d2763cef5510ec5ab807f6632c39f5",
    ),
    Pack("ComfyUI-KJNodes", "kijai/ComfyUI-KJNodes", "3f20054214fec9f9234fd3841ae6f1e4287948f6"),
    Pack("rgthree-comfy", "rgthree/rgthree-comfy", "13b4399c00b5ef5a97b1b6800fc1185874740f5d"),
    Pack(
        "ComfyUI-Impact-Pack",
        "ltdrdata/ComfyUI-Impact-Pack",
        "727295b52e5f7b5429e81ca2179172865aa83b99",
        sys_paths=("modules",),
    ),
    Pack(
        "was-node-suite-comfyui",
        "WASasquatch/was-node-suite-comfyui",
        "ea935d1044ae5a26efa54ebeb18fe9020af49a45",
    ),
    Pack(
        "comfyui-reactor-node",
        "Gourieff/comfyui-reactor-node",
        "3ea587d8638821efc2d8a393660058746b3100c2",
    ),
    Pack(
        "ComfyUI-Advanced-ControlNet",
        "Kosinkadink/ComfyUI-Advanced-ControlNet",
        "9e60d8a9c8016c5315063aa7af66b321a0444df7",
    ),
    Pack("ComfyUI-GGUF", "city96/ComfyUI-GGUF", "795e45156ece99afbc3efef911e63fcb46e6a20d"),
    Pack(
        "ComfyUI_UltimateSDUpscale",
        "ssitu/ComfyUI_UltimateSDUpscale",
        "34a3c2c0d8a0321d4f9a355092f105046e56d998",
    ),
    Pack("ComfyUI-SUPIR", "kijai/ComfyUI-SUPIR", "0613a9239f49b062adba6c12072942e1724a7cbd"),
    Pack(
        "ComfyUI-WanVideoWrapper",
        "kijai/ComfyUI-WanVideoWrapper",
        "721cd65e7b5224c70a3d20446d9d561f1732216b",
    ),
    Pack(
        "ComfyUI-HunyuanVideoWrapper",
        "kijai/ComfyUI-HunyuanVideoWrapper",
        "3ce9640497139b14462910b0dbf2be1df855c1d6",
    ),
)

# Rule 4 of media: (pack, Python class, input) -> (media, accepts). Each read from the class's
# load function, which opens the field's value as a path (or downloads it when it starts with
# http) rather than looking it up in the input folder.
PATH_INPUTS: dict[tuple[str, str, str], tuple[str, str]] = {
    # load_image: image_path.startswith('http') -> download, else Image.open(image_path)
    ("was-node-suite-comfyui", "WAS_Load_Image", "image_path"): ("image", "url_or_path"),
    # load_batch_images: globs the folder `path` for images
    ("was-node-suite-comfyui", "WAS_Load_Image_Batch", "path"): ("image", "directory"),
    # LoadImagesFromFolderKJ: lists the images of the folder `folder`
    ("ComfyUI-KJNodes", "LoadImagesFromFolderKJ", "folder"): ("image", "directory"),
}
VIDEO_EXTENSIONS = frozenset({"mp4", "webm", "mkv", "mov", "avi", "gif", "m4v", "flv", "wmv"})
AUDIO_EXTENSIONS = frozenset({"wav", "mp3", "ogg", "m4a", "flac", "aac", "opus"})
IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "jxl"})


class GenError(Exception):
    """A mirror or a file that cannot be read; the message says which."""


# ---------------------------------------------------------------------------------------------
# Values the evaluator produces besides plain Python data.


class _Unknown:
    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __deepcopy__(self, memo: Any) -> _Unknown:
        return self


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class FolderChoices:
    """Choices that list a folder of the server: ``get_filename_list(folder)``, or ``input``."""

    folder: str


@dataclass(frozen=True)
class InputDir:
    """``folder_paths.get_input_directory()`` (or a path joined under it)."""


@dataclass(frozen=True)
class ClassRef:
    module: Module
    node: ast.ClassDef

    def __deepcopy__(self, memo: Any) -> ClassRef:
        return self


@dataclass(frozen=True)
class FuncRef:
    module: Module
    node: ast.FunctionDef
    owner: ClassRef | None = None

    def __deepcopy__(self, memo: Any) -> FuncRef:
        return self


@dataclass(frozen=True)
class ModuleRef:
    """A module or package by name: ``comfy`` in ``import comfy.samplers``. ``module`` is its
    file (None for a package without ``__init__.py``); ``origin`` the module that imported it."""

    dotted: str
    level: int
    origin: Module
    module: Module | None

    def __deepcopy__(self, memo: Any) -> ModuleRef:
        return self


@dataclass(frozen=True)
class KnownModule:
    """A standard library module one of whose constants is in ``KNOWN_CONSTANTS``."""

    name: str


@dataclass(frozen=True)
class IoNamespace:
    """ComfyUI's ``comfy_api`` ``io`` module (``from comfy_api.latest import io``)."""


@dataclass(frozen=True)
class IoType:
    name: str  # the class in _io.py (Int, Combo, Image, ...)
    io_type: str


@dataclass(frozen=True)
class IoInputMaker:
    io: IoType


@dataclass(frozen=True)
class IoOutputMaker:
    io: IoType


@dataclass(frozen=True)
class IoInput:
    io: IoType
    id: str
    options: dict[str, Any]


@dataclass(frozen=True)
class IoOutput:
    io_type: str


@dataclass(frozen=True)
class IoEnum:
    name: str


@dataclass(frozen=True)
class IoSchema:
    args: dict[str, Any]


@dataclass(frozen=True)
class StrMethod:
    text: str
    method: str


@dataclass(frozen=True)
class DictMethod:
    data: dict[Any, Any]
    method: str


# ---------------------------------------------------------------------------------------------
# Sources: files of a git mirror, parsed once.


class Source:
    """One repository's files at one commit, read from a bare git directory."""

    def __init__(self, pack: Pack, git_dir: Path) -> None:
        self.pack = pack
        self.git_dir = git_dir
        self.commit = pack.commit
        self.files = self._list()
        self.modules: dict[str, Module | None] = {}
        self.used: set[str] = set()

    def _git(self, *args: str) -> bytes:
        try:
            return subprocess.run(
                ["git", "--git-dir", str(self.git_dir), *args], capture_output=True, check=True
            ).stdout
        except subprocess.CalledProcessError as exc:
            message = exc.stderr.decode(errors="replace").strip()
            raise GenError(f"{self.git_dir}: git {' '.join(args)}: {message}") from None

    def _list(self) -> list[str]:
        out = self._git("ls-tree", "-r", "--name-only", self.commit).decode()
        return sorted(line for line in out.splitlines() if line)

    def read(self, path: str) -> str:
        return self._git("cat-file", "blob", f"{self.commit}:{path}").decode("utf-8", "replace")

    def module(self, path: str) -> Module | None:
        if path not in self.modules:
            self.modules[path] = None
            if path in self.files:
                try:
                    tree = ast.parse(self.read(path), filename=path)
                except SyntaxError:
                    tree = None
                if tree is not None:
                    self.modules[path] = Module(self, path, tree)
        return self.modules[path]

    def find_module(self, dotted: str) -> Module | None:
        base = dotted.replace(".", "/")
        for root in ("", *self.pack.sys_paths):
            prefix = f"{root}/" if root else ""
            for candidate in (f"{prefix}{base}.py", f"{prefix}{base}/__init__.py"):
                if candidate in self.files:
                    return self.module(candidate)
        return None

    def license(self) -> str:
        names = [f for f in self.files if "/" not in f]
        for name in names:
            if name.lower().split(".")[0] in ("license", "copying", "licence"):
                return _spdx(self.read(name))
        return "NOASSERTION"


def _spdx(text: str) -> str:
    head = " ".join(text.split()[:60]).lower()
    if "gnu affero general public license" in head:
        return "AGPL-3.0"
    if "gnu general public license" in head and "version 3" in head:
        return "GPL-3.0"
    if "gnu general public license" in head and "version 2" in head:
        return "GPL-2.0"
    if "apache license" in head and "2.0" in head:
        return "Apache-2.0"
    if head.startswith("mit license") or "permission is hereby granted, free of charge" in head:
        return "MIT"
    if "redistribution and use in source and binary forms" in head:
        return "BSD"
    if "non-commercial" in head or "noncommercial" in head:
        return "LicenseRef-NonCommercial"
    return "NOASSERTION"  # no licence file at the top of the repository, or one not recognised


class Module:
    """One parsed file: its top-level assignments, classes, functions and imports."""

    def __init__(self, source: Source, path: str, tree: ast.Module) -> None:
        self.source = source
        self.path = path
        self.tree = tree
        self.assigns: dict[str, ast.expr] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        self.imports: dict[str, tuple[str, int, str | None]] = {}  # name -> (module, level, attr)
        self.star: list[tuple[str, int]] = []
        self.cache: dict[str, Any] = {}
        for stmt in _top_level(tree.body):
            self._note(stmt)

    def _note(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    self.assigns.setdefault(target.id, stmt.value)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
            self.assigns.setdefault(stmt.target.id, stmt.value)
        elif isinstance(stmt, ast.ClassDef):
            self.classes[stmt.name] = stmt
        elif isinstance(stmt, ast.FunctionDef):
            self.functions[stmt.name] = stmt
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    self.imports[alias.asname] = (alias.name, 0, None)
                else:
                    top = alias.name.split(".")[0]
                    self.imports.setdefault(top, (top, 0, None))
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    self.star.append((stmt.module or "", stmt.level))
                else:
                    name = alias.asname or alias.name
                    self.imports.setdefault(name, (stmt.module or "", stmt.level, alias.name))

    def resolve_module(self, dotted: str, level: int) -> Module | None:
        """A module imported from here: relative within the pack, absolute in the pack, then
        in ComfyUI."""
        if level:
            parts = list(PurePosixPath(self.path).parent.parts)
            if level > 1:
                parts = parts[: len(parts) - (level - 1)]
            base = "/".join(parts)
            dotted_path = (base + "/" if base else "") + dotted.replace(".", "/")
            for candidate in (f"{dotted_path}.py", f"{dotted_path}/__init__.py"):
                if candidate.strip("/") in self.source.files:
                    return self.source.module(candidate.strip("/"))
            return None
        found = self.source.find_module(dotted) if dotted else None
        if found is None and _CORE_SOURCE[0] is not None and _CORE_SOURCE[0] is not self.source:
            found = _CORE_SOURCE[0].find_module(dotted)
        return found


_CORE_SOURCE: list[Source | None] = [None]


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements at module level, including those inside top-level try/if blocks."""
    for stmt in body:
        if isinstance(stmt, ast.Try):
            yield from _top_level(stmt.body)
            for handler in stmt.handlers:
                yield from _top_level(handler.body)
        elif isinstance(stmt, ast.If):
            yield from _top_level(stmt.body)
            yield from _top_level(stmt.orelse)
        else:
            yield stmt


# ---------------------------------------------------------------------------------------------
# The evaluator: constant expressions, names across modules, a few calls.

_MAX_DEPTH = 40


class _Evaluator:
    def __init__(self, io_types: dict[str, str], io_enums: dict[str, dict[str, str]]) -> None:
        self.io_types = io_types
        self.io_enums = io_enums
        self.depth = 0
        self.resolving: set[tuple[int, str]] = set()

    # -- names ----------------------------------------------------------------------------
    def module_name(self, module: Module, name: str) -> Any:
        if name in module.cache:
            return module.cache[name]
        key = (id(module), name)
        if key in self.resolving:
            return UNKNOWN
        self.resolving.add(key)
        try:
            value = self._module_name(module, name)
        finally:
            self.resolving.discard(key)
        module.cache[name] = value
        return value

    def _module_name(self, module: Module, name: str) -> Any:
        if name in module.classes:
            return ClassRef(module, module.classes[name])
        if name in module.functions:
            return FuncRef(module, module.functions[name])
        if name in module.assigns:
            value = self.eval(module.assigns[name], module, {}, None)
            if value is not UNKNOWN:
                module.source.used.add(module.path)
            return value
        if name in module.imports:
            dotted, level, attr = module.imports[name]
            if attr is None:
                if dotted.startswith("comfy_api") and dotted.endswith("io"):
                    return IoNamespace()
                if any(mod == dotted for mod, _ in KNOWN_CONSTANTS):
                    return KnownModule(dotted)
                return ModuleRef(dotted, level, module, module.resolve_module(dotted, level))
            if attr == "io" and dotted.startswith("comfy_api"):
                return IoNamespace()
            if (dotted, attr) in KNOWN_CONSTANTS:
                return KNOWN_CONSTANTS[(dotted, attr)]
            target = module.resolve_module(dotted, level)
            if target is not None:
                value = self.module_name(target, attr)
                if value is not UNKNOWN:
                    return value
            sub_name = f"{dotted}.{attr}" if dotted else attr
            sub = module.resolve_module(sub_name, level)
            return ModuleRef(sub_name, level, module, sub) if sub else UNKNOWN
        for dotted, level in module.star:
            target = module.resolve_module(dotted, level)
            if target is not None and target is not module:
                value = self.module_name(target, name)
                if value is not UNKNOWN:
                    return value
        return UNKNOWN

    def class_attr(self, cls: ClassRef, name: str, seen: frozenset[int] = frozenset()) -> Any:
        if id(cls.node) in seen:
            return UNKNOWN
        for stmt in cls.node.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        return self.eval(stmt.value, cls.module, {}, cls)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if stmt.target.id == name and stmt.value is not None:
                    return self.eval(stmt.value, cls.module, {}, cls)
            elif isinstance(stmt, ast.FunctionDef) and stmt.name == name:
                return FuncRef(cls.module, stmt, cls)
            elif isinstance(stmt, ast.ClassDef) and stmt.name == name:
                return ClassRef(cls.module, stmt)
        for base in cls.node.bases:
            ref = self.eval(base, cls.module, {}, None)
            if isinstance(ref, ClassRef):
                value = self.class_attr(ref, name, seen | {id(cls.node)})
                if value is not UNKNOWN:
                    return value
        return UNKNOWN

    def is_str_subclass(self, cls: ClassRef) -> bool:
        return any(isinstance(b, ast.Name) and b.id == "str" for b in cls.node.bases)

    # -- expressions -----------------------------------------------------------------------
    def eval(
        self, node: ast.expr, module: Module, env: dict[str, Any], cls: ClassRef | None
    ) -> Any:
        if self.depth > _MAX_DEPTH:
            return UNKNOWN
        self.depth += 1
        try:
            return self._eval(node, module, env, cls)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError):
            return UNKNOWN
        except (OverflowError, RecursionError):
            return UNKNOWN
        finally:
            self.depth -= 1

    def _eval(
        self, node: ast.expr, module: Module, env: dict[str, Any], cls: ClassRef | None
    ) -> Any:
        ev = self.eval
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items: list[Any] = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    inner = ev(elt.value, module, env, cls)
                    if not isinstance(inner, (list, tuple)):
                        return UNKNOWN
                    items.extend(inner)
                else:
                    items.append(ev(elt, module, env, cls))
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            out: dict[Any, Any] = {}
            for key, value in zip(node.keys, node.values, strict=True):
                if key is None:
                    inner = ev(value, module, env, cls)
                    if not isinstance(inner, dict):
                        return UNKNOWN
                    out.update(inner)
                    continue
                k = ev(key, module, env, cls)
                if k is UNKNOWN or not isinstance(k, (str, int, float, bool)):
                    return UNKNOWN
                out[k] = ev(value, module, env, cls)
            return out
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            return copy.deepcopy(self.module_name(module, node.id))
        if isinstance(node, ast.Attribute):
            return self._attribute(ev(node.value, module, env, cls), node.attr)
        if isinstance(node, ast.UnaryOp):
            operand = ev(node.operand, module, env, cls)
            if isinstance(node.op, ast.USub) and _is_number(operand):
                return -operand
            if isinstance(node.op, ast.UAdd) and _is_number(operand):
                return operand
            if isinstance(node.op, ast.Not) and _is_plain(operand):
                return not operand
            return UNKNOWN
        if isinstance(node, ast.BinOp):
            return self._binop(node, module, env, cls)
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                elif isinstance(value, ast.FormattedValue) and value.format_spec is None:
                    inner = ev(value.value, module, env, cls)
                    if not isinstance(inner, (str, int, float)) or isinstance(inner, bool):
                        return UNKNOWN
                    parts.append(str(inner))
                else:
                    return UNKNOWN
            return "".join(parts)
        if isinstance(node, ast.Subscript):
            base = ev(node.value, module, env, cls)
            index = ev(node.slice, module, env, cls)
            if isinstance(base, (list, tuple, dict, str)) and _is_plain(index):
                return base[index]
            return UNKNOWN
        if isinstance(node, ast.Call):
            return self._call(node, module, env, cls)
        if isinstance(node, ast.IfExp):
            test = ev(node.test, module, env, cls)
            if _is_plain(test):
                return ev(node.body if test else node.orelse, module, env, cls)
            return UNKNOWN
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            source = ev(node.generators[0].iter, module, env, cls)
            if isinstance(source, FolderChoices):
                return source
            return UNKNOWN
        if isinstance(node, ast.Lambda):
            return UNKNOWN
        return UNKNOWN

    def _binop(
        self, node: ast.BinOp, module: Module, env: dict[str, Any], cls: ClassRef | None
    ) -> Any:
        left = self.eval(node.left, module, env, cls)
        right = self.eval(node.right, module, env, cls)
        if isinstance(node.op, ast.Add):
            for side in (left, right):
                if isinstance(side, FolderChoices):
                    other = right if side is left else left
                    return side if isinstance(other, (list, tuple, FolderChoices)) else UNKNOWN
            if isinstance(left, list) and isinstance(right, list):
                return left + right
            if isinstance(left, tuple) and isinstance(right, tuple):
                return left + right
            if isinstance(left, str) and isinstance(right, str):
                return left + right
        if isinstance(node.op, ast.BitOr) and isinstance(left, dict) and isinstance(right, dict):
            return left | right
        if _is_number(left) and _is_number(right):
            op = node.op
            if isinstance(op, ast.Add):
                return left + right
            if isinstance(op, ast.Sub):
                return left - right
            if isinstance(op, ast.Mult):
                return left * right
            if isinstance(op, ast.Div):
                return left / right
            if isinstance(op, ast.FloorDiv):
                return left // right
            if isinstance(op, ast.Pow) and abs(right) < 200:
                return left**right
            if isinstance(op, ast.LShift) and isinstance(right, int) and right < 200:
                return left << right
            if isinstance(op, ast.Mod):
                return left % right
        if isinstance(node.op, ast.Mod) and isinstance(left, str):
            try:
                return left % right
            except (TypeError, ValueError):
                return UNKNOWN
        return UNKNOWN

    def _attribute(self, base: Any, attr: str) -> Any:
        if isinstance(base, ModuleRef):
            if base.module is not None:
                value = self.module_name(base.module, attr)
                if value is not UNKNOWN:
                    return copy.deepcopy(value)
            sub_name = f"{base.dotted}.{attr}"
            sub = base.origin.resolve_module(sub_name, base.level)
            return ModuleRef(sub_name, base.level, base.origin, sub) if sub else UNKNOWN
        if isinstance(base, ClassRef):
            return copy.deepcopy(self.class_attr(base, attr))
        if isinstance(base, KnownModule):
            return KNOWN_CONSTANTS.get((base.name, attr), UNKNOWN)
        if isinstance(base, IoNamespace):
            if attr in self.io_types:
                return IoType(attr, self.io_types[attr])
            if attr in self.io_enums:
                return IoEnum(attr)
            if attr == "Custom":
                return IoType("Custom", "")
            if attr == "Schema":
                return IoSchema({})
            return UNKNOWN
        if isinstance(base, IoType):
            if attr == "Input":
                return IoInputMaker(base)
            if attr == "Output":
                return IoOutputMaker(base)
            if attr == "io_type":
                return base.io_type
            return UNKNOWN
        if isinstance(base, IoEnum):
            return self.io_enums[base.name].get(attr, UNKNOWN)
        if isinstance(base, str):
            return StrMethod(base, attr)
        if isinstance(base, dict):
            return DictMethod(base, attr)
        return UNKNOWN

    def _call(
        self, node: ast.Call, module: Module, env: dict[str, Any], cls: ClassRef | None
    ) -> Any:
        ev = self.eval
        name = _call_name(node.func)
        if name == "get_filename_list" and node.args:
            folder = ev(node.args[0], module, env, cls)
            return FolderChoices(folder) if isinstance(folder, str) else UNKNOWN
        if name == "get_input_directory":
            return InputDir()
        if name in ("listdir", "iterdir", "scandir", "glob", "walk"):
            owner = node.func.value if isinstance(node.func, ast.Attribute) else None
            target = ev(owner, module, env, cls) if name == "iterdir" and owner else None
            args = [ev(a, module, env, cls) for a in node.args]
            if isinstance(target, InputDir) or any(isinstance(a, InputDir) for a in args):
                return FolderChoices("input")
            return UNKNOWN
        if name in ("join", "Path") and isinstance(node.func, (ast.Attribute, ast.Name)):
            args = [ev(a, module, env, cls) for a in node.args]
            if args and isinstance(args[0], InputDir):
                return InputDir()
        if name == "filter_files_content_types" and node.args:
            return ev(node.args[0], module, env, cls)
        func = ev(node.func, module, env, cls)
        args = [ev(a, module, env, cls) for a in node.args if not isinstance(a, ast.Starred)]
        if any(isinstance(a, ast.Starred) for a in node.args):
            return UNKNOWN
        kwargs = {k.arg: ev(k.value, module, env, cls) for k in node.keywords if k.arg}
        if any(k.arg is None for k in node.keywords):
            kwargs_star = [ev(k.value, module, env, cls) for k in node.keywords if k.arg is None]
            for extra in kwargs_star:
                if not isinstance(extra, dict):
                    return UNKNOWN
                kwargs.update(extra)
        called = node.func.id if isinstance(node.func, ast.Name) else ""
        if called in _BUILTINS and called not in env and not isinstance(func, (ClassRef, FuncRef)):
            return _BUILTINS[called](args, kwargs)
        if isinstance(func, IoInputMaker):
            return self._io_input(func.io, args, kwargs)
        if isinstance(func, IoOutputMaker):
            return IoOutput(func.io.io_type)
        if isinstance(func, IoType) and func.name == "Custom":
            return IoType("Custom", args[0]) if args and isinstance(args[0], str) else UNKNOWN
        if isinstance(func, IoSchema):
            return IoSchema(kwargs)
        if isinstance(func, StrMethod):
            return _str_method(func, args, kwargs)
        if isinstance(func, DictMethod):
            if func.method == "keys" and not args:
                return list(func.data.keys())
            if func.method == "values" and not args:
                return list(func.data.values())
            if func.method == "get" and args and _is_plain(args[0]):
                return func.data.get(args[0], args[1] if len(args) > 1 else None)
            return UNKNOWN
        if isinstance(func, ClassRef) and self.is_str_subclass(func) and args:
            return args[0] if isinstance(args[0], str) else UNKNOWN
        if isinstance(func, FuncRef):
            return self._call_function(func, args, kwargs)
        return UNKNOWN

    def _io_input(self, io: IoType, args: list[Any], kwargs: dict[str, Any]) -> Any:
        options = dict(kwargs)
        ident = args[0] if args else options.pop("id", None)
        if not isinstance(ident, str):
            return UNKNOWN
        if io.name in ("Combo", "MultiCombo") and len(args) > 1:
            options["options"] = args[1]
        return IoInput(io, ident, options)

    def _call_function(self, func: FuncRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """A function whose body is one return (after a docstring), with its arguments bound."""
        body = [s for s in func.node.body if not _is_docstring(s)]
        spec = func.node.args
        params = [a.arg for a in spec.args]
        decorators = {_call_name(d) for d in func.node.decorator_list}
        env: dict[str, Any] = {}
        if func.owner is not None and params and "staticmethod" not in decorators:
            if "classmethod" in decorators or params[0] in ("cls", "s"):
                env[params[0]] = func.owner
                params = params[1:]
            elif params[0] == "self":
                return UNKNOWN
        defaults = spec.defaults
        for param, default in zip(params[len(params) - len(defaults) :], defaults, strict=True):
            env[param] = self.eval(default, func.module, {}, func.owner)
        for kwonly, kw_default in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
            if kw_default is not None:
                env[kwonly.arg] = self.eval(kw_default, func.module, {}, func.owner)
        if len(args) > len(params) and spec.vararg is None:
            return UNKNOWN
        for param, value in zip(params, args, strict=False):
            env[param] = value
        if spec.vararg is not None:
            env[spec.vararg.arg] = tuple(args[len(params) :])
        known = set(params) | {a.arg for a in spec.kwonlyargs}
        extra = {k: v for k, v in kwargs.items() if k not in known}
        if extra and spec.kwarg is None:
            return UNKNOWN
        for key, value in kwargs.items():
            if key in known:
                env[key] = value
        if spec.kwarg is not None:
            env[spec.kwarg.arg] = extra
        if any(p not in env for p in params):
            return UNKNOWN
        call_key = (id(func.node), "(call)")
        if call_key in self.resolving:
            return UNKNOWN
        self.resolving.add(call_key)
        try:
            found = self._block(body, func.module, env, func.owner)
        finally:
            self.resolving.discard(call_key)
        return UNKNOWN if found is _NO_RETURN else found

    # -- statements ------------------------------------------------------------------------
    def run(self, func: FuncRef, cls: ClassRef) -> Any:
        """Interpret a classmethod's body (INPUT_TYPES, define_schema) and give what it returns."""
        env: dict[str, Any] = {}
        params = [a.arg for a in func.node.args.args]
        if params:
            env[params[0]] = cls
        return self._block(func.node.body, func.module, env, cls)

    def _block(
        self, body: list[ast.stmt], module: Module, env: dict[str, Any], cls: ClassRef | None
    ) -> Any:
        for stmt in body:
            if isinstance(stmt, ast.Return):
                return self.eval(stmt.value, module, env, cls) if stmt.value else None
            if isinstance(stmt, ast.Assign):
                value = self.eval(stmt.value, module, env, cls)
                for target in stmt.targets:
                    self._assign(target, value, module, env, cls)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                self._assign(stmt.target, self.eval(stmt.value, module, env, cls), module, env, cls)
            elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
                combined = ast.BinOp(left=ast.Name(stmt.target.id), op=stmt.op, right=stmt.value)
                env[stmt.target.id] = self.eval(combined, module, env, cls)
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                self._mutate(stmt.value, module, env, cls)
            elif isinstance(stmt, (ast.Try, ast.With)):
                found = self._block(stmt.body, module, env, cls)
                if found is not _NO_RETURN:
                    return found
            elif isinstance(stmt, ast.If):
                test = self.eval(stmt.test, module, env, cls)
                if _is_plain(test) or isinstance(test, (list, tuple, dict)):
                    found = self._block(stmt.body if test else stmt.orelse, module, env, cls)
                    if found is not _NO_RETURN:
                        return found
                elif any(isinstance(n, ast.Return) for n in ast.walk(stmt)):
                    return UNKNOWN  # which return is taken is not known
                else:
                    for name in _assigned_names(stmt) | _mutated_names(stmt):
                        if not isinstance(env.get(name), FolderChoices):
                            env[name] = UNKNOWN  # (a folder's list with names added stays)
            elif isinstance(stmt, (ast.For, ast.While)):
                found = self._loop(stmt, module, env, cls)
                if found is not _NO_RETURN:
                    return found
        return _NO_RETURN

    def _loop(
        self, stmt: ast.For | ast.While, module: Module, env: dict[str, Any], cls: ClassRef | None
    ) -> Any:
        """A for loop over a known list runs (up to 1,000 turns, no break, continue or
        return in it); any other loop leaves what it changes unknown, except names a loop over
        a folder's listing appends to, which list that folder."""
        source = self.eval(stmt.iter, module, env, cls) if isinstance(stmt, ast.For) else None
        jumps = any(isinstance(n, (ast.Break, ast.Continue, ast.Return)) for n in ast.walk(stmt))
        if isinstance(stmt, ast.For) and not stmt.orelse and not jumps:
            items = list(source.keys()) if isinstance(source, dict) else source
            if isinstance(items, (list, tuple)) and len(items) <= 1000:
                for item in items:
                    self._assign(stmt.target, item, module, env, cls)
                    self._block(stmt.body, module, env, cls)
                return _NO_RETURN
        appended = _appended_names(stmt)
        for name in _assigned_names(stmt) | _mutated_names(stmt):
            if name not in appended and not isinstance(env.get(name), FolderChoices):
                env[name] = UNKNOWN
        for name in appended:
            before = env.get(name, UNKNOWN)
            if isinstance(before, FolderChoices):
                continue  # more names added to a folder's list: still that folder's
            fresh = before == [] and isinstance(source, FolderChoices)
            env[name] = source if fresh else UNKNOWN
        return _NO_RETURN

    def _assign(
        self,
        target: ast.expr,
        value: Any,
        module: Module,
        env: dict[str, Any],
        cls: ClassRef | None,
    ) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value, module, env, cls)
            key = self.eval(target.slice, module, env, cls)
            if isinstance(container, dict) and _is_plain(key):
                container[key] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (list, tuple)) and len(value) == len(target.elts):
                for elt, item in zip(target.elts, value, strict=True):
                    self._assign(elt, item, module, env, cls)
            else:
                for elt in target.elts:
                    if isinstance(elt, ast.Name):
                        env[elt.id] = UNKNOWN

    def _mutate(
        self, call: ast.Call, module: Module, env: dict[str, Any], cls: ClassRef | None
    ) -> None:
        if not isinstance(call.func, ast.Attribute):
            return
        container = self.eval(call.func.value, module, env, cls)
        args = [self.eval(a, module, env, cls) for a in call.args]
        method = call.func.attr
        if (
            isinstance(container, dict)
            and method == "update"
            and args
            and isinstance(args[0], dict)
        ):
            container.update(args[0])
        elif isinstance(container, dict) and method == "update" and call.keywords:
            for k in call.keywords:
                if k.arg:
                    container[k.arg] = self.eval(k.value, module, env, cls)
        elif isinstance(container, list) and method == "append" and len(args) == 1:
            container.append(args[0])
        elif isinstance(container, list) and method == "extend" and args:
            if isinstance(args[0], (list, tuple)):
                container.extend(args[0])
        elif isinstance(container, list) and method == "insert" and len(args) == 2:
            if isinstance(args[0], int):
                container.insert(args[0], args[1])
        elif isinstance(container, dict) and method == "pop" and args and _is_plain(args[0]):
            container.pop(args[0], None)


_NO_RETURN = object()


def _assigned_names(stmt: ast.stmt) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _mutated_names(stmt: ast.stmt) -> set[str]:
    """Names whose value a statement may change in place: ``x[k] = ...``, ``x.m(...)``."""
    names: set[str] = set()
    for node in ast.walk(stmt):
        target = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            target = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
        while isinstance(target, (ast.Subscript, ast.Attribute)):
            target = target.value
        if isinstance(target, ast.Name):
            names.add(target.id)
    return names


def _appended_names(stmt: ast.stmt) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(stmt):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("append", "extend")
            and isinstance(node.func.value, ast.Name)
        ):
            names.add(node.func.value.id)
    return names


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None)))


def _str_method(func: StrMethod, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if any(not _is_plain(a) for a in args) or any(not _is_plain(v) for v in kwargs.values()):
        joinable = len(args) == 1 and isinstance(args[0], (list, tuple))
        if func.method == "join" and joinable and all(isinstance(a, str) for a in args[0]):
            return func.text.join(args[0])
        return UNKNOWN
    if func.method == "format":
        return func.text.format(*args, **kwargs)
    if func.method in ("upper", "lower", "strip", "title") and not args:
        return getattr(func.text, func.method)()
    if func.method == "split" and len(args) <= 1:
        return func.text.split(*args)
    return UNKNOWN


def _builtin_list(args: list[Any], kwargs: dict[str, Any]) -> Any:
    if not args:
        return []
    value = args[0]
    if isinstance(value, FolderChoices):
        return value
    if isinstance(value, dict):
        return list(value.keys())
    if isinstance(value, (list, tuple, str)):
        return list(value)
    return UNKNOWN


def _builtin_sorted(args: list[Any], kwargs: dict[str, Any]) -> Any:
    if not args:
        return UNKNOWN
    value = args[0]
    if isinstance(value, FolderChoices):
        return value
    if kwargs:
        return UNKNOWN
    items = _builtin_list(args, {})
    if not isinstance(items, list) or not all(_is_plain(i) for i in items):
        return UNKNOWN
    try:
        return sorted(items)
    except TypeError:
        return UNKNOWN


def _builtin_number(kind: type) -> Any:
    def convert(args: list[Any], kwargs: dict[str, Any]) -> Any:
        if len(args) == 1 and isinstance(args[0], (int, float, str)):
            try:
                return kind(args[0])
            except (ValueError, OverflowError):
                return UNKNOWN
        return UNKNOWN

    return convert


def _builtin_minmax(pick: Any) -> Any:
    def choose(args: list[Any], kwargs: dict[str, Any]) -> Any:
        if len(args) >= 2 and all(_is_number(a) for a in args) and not kwargs:
            return pick(args)
        return UNKNOWN

    return choose


_BUILTINS: dict[str, Any] = {
    "list": _builtin_list,
    "tuple": lambda a, k: (
        tuple(_builtin_list(a, k)) if isinstance(_builtin_list(a, k), list) else _builtin_list(a, k)
    ),
    "sorted": _builtin_sorted,
    "dict": lambda a, k: dict(k) if not a else (dict(a[0]) if isinstance(a[0], dict) else UNKNOWN),
    "int": _builtin_number(int),
    "float": _builtin_number(float),
    "str": lambda a, k: a[0] if len(a) == 1 and isinstance(a[0], str) else UNKNOWN,
    "max": _builtin_minmax(max),
    "range": lambda a, k: (
        list(range(*a)) if a and all(isinstance(x, int) for x in a) and not k else UNKNOWN
    ),
    "min": _builtin_minmax(min),
}


# ---------------------------------------------------------------------------------------------
# Nodes: registrations found, each class turned into the record of the data file.


@dataclass
class NodeDef:
    name: str
    pack: str
    cls: ClassRef
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    optional: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    output_node: bool = False
    output_kind: str | None = None

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pack": self.pack,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "optional": self.optional,
            "output_node": self.output_node,
        }
        if self.unresolved:
            out["unresolved"] = self.unresolved
        if self.output_kind:
            out["output_kind"] = self.output_kind
        return out


class PackReader:
    def __init__(self, source: Source, evaluator: _Evaluator) -> None:
        self.source = source
        self.ev = evaluator
        self.pack = source.pack

    def node_modules(self) -> list[Module]:
        globs = self.pack.node_files
        out = []
        for path in self.source.files:
            if not path.endswith(".py"):
                continue
            if globs and not any(PurePosixPath(path).match(g) for g in globs):
                continue
            if not globs and _is_test_path(path):
                continue
            module = self.source.module(path)
            if module is not None:
                out.append(module)
        return out

    def registrations(self) -> dict[str, ClassRef]:
        found: dict[str, ClassRef] = {}
        for module in self.node_modules():
            for name, cls in self._mappings(module):
                found.setdefault(name, cls)
            for name, cls in self._schema_nodes(module):
                found.setdefault(name, cls)
        return found

    def _mappings(self, module: Module) -> Iterator[tuple[str, ClassRef]]:
        for stmt in _top_level(module.tree.body):
            targets: list[tuple[str, ast.expr | None, ast.expr]] = []
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        targets.append((target.id, None, stmt.value))
                    elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                        targets.append((target.value.id, target.slice, stmt.value))
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                call = stmt.value
                if (
                    isinstance(call.func, ast.Attribute)
                    and call.func.attr == "update"
                    and isinstance(call.func.value, ast.Name)
                    and call.args
                ):
                    targets.append((call.func.value.id, None, call.args[0]))
            for var, key, value in targets:
                if not _is_mapping_name(var):
                    continue
                if key is not None:
                    name = self.ev.eval(key, module, {}, None)
                    cls = self.ev.eval(value, module, {}, None)
                    if isinstance(name, str) and isinstance(cls, ClassRef):
                        yield name, cls
                    continue
                if isinstance(value, ast.Dict):
                    yield from self._dict_entries(value, module)

    def _dict_entries(self, node: ast.Dict, module: Module) -> Iterator[tuple[str, ClassRef]]:
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                continue
            name = self.ev.eval(key, module, {}, None)
            if not isinstance(name, str):
                continue
            if isinstance(value, ast.Dict):  # NODE_CONFIG: {"name": {"class": Class, ...}}
                for k, v in zip(value.keys, value.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == "class":
                        cls = self.ev.eval(v, module, {}, None)
                        if isinstance(cls, ClassRef):
                            yield name, cls
                continue
            cls = self.ev.eval(value, module, {}, None)
            if isinstance(cls, ClassRef):
                yield name, cls

    def _schema_nodes(self, module: Module) -> Iterator[tuple[str, ClassRef]]:
        """Classes an extension's get_node_list returns, named by their io.Schema node_id."""
        listed: list[str] = []
        for node in ast.walk(module.tree):
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                if node.name != "get_node_list":
                    continue
                for ret in ast.walk(node):
                    if isinstance(ret, ast.Return) and isinstance(ret.value, ast.List):
                        listed += [e.id for e in ret.value.elts if isinstance(e, ast.Name)]
        for name in listed:
            cls = self.ev.eval(ast.Name(name), module, {}, None)
            if not isinstance(cls, ClassRef):
                continue
            schema = self._schema(cls)
            if schema is not None and isinstance(schema.args.get("node_id"), str):
                yield schema.args["node_id"], cls

    def _schema(self, cls: ClassRef) -> IoSchema | None:
        func = self.ev.class_attr(cls, "define_schema")
        if not isinstance(func, FuncRef):
            return None
        value = self.ev.run(func, cls)
        return value if isinstance(value, IoSchema) else None

    # -- one node ---------------------------------------------------------------------------
    def node(self, name: str, cls: ClassRef) -> NodeDef:
        node = NodeDef(name, self.pack.name, cls)
        self.source.used.add(cls.module.path)
        schema = self._schema(cls)
        if schema is not None:
            self._from_schema(node, schema)
        else:
            self._from_input_types(node)
        node.output_kind = self._output_kind(node)
        return node

    def _from_input_types(self, node: NodeDef) -> None:
        cls = node.cls
        node.output_node = self.ev.class_attr(cls, "OUTPUT_NODE") is True
        func = self.ev.class_attr(cls, "INPUT_TYPES")
        declared = self.ev.run(func, cls) if isinstance(func, FuncRef) else UNKNOWN
        if isinstance(declared, dict):
            for section in ("required", "optional"):
                group = declared.get(section)
                if not isinstance(group, dict):
                    if group not in (None,):
                        node.unresolved.append(f"({section})")
                    continue
                for input_name, spec in group.items():
                    entry = self._v1_input(node, str(input_name), spec)
                    self._add(node, str(input_name), entry, section == "optional")
        else:
            node.unresolved.append("(INPUT_TYPES)")
        node.outputs = _output_names(self.ev.class_attr(cls, "RETURN_TYPES"))

    def _v1_input(self, node: NodeDef, name: str, spec: Any) -> dict[str, Any] | None:
        if isinstance(spec, str):
            spec = (spec,)
        if not isinstance(spec, (tuple, list)) or not spec:
            return None
        kind = spec[0]
        opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        entry: dict[str, Any]
        if isinstance(kind, str):
            if kind in WIDGET_TYPES:
                entry = {"type": kind}
            elif kind == "COMBO":
                entry = {"type": "COMBO"}
                _set_choices(entry, opts.get("options", UNKNOWN))
            else:
                entry = {"type": kind, "link": True}
        elif isinstance(kind, (list, tuple, FolderChoices)):
            entry = {"type": "COMBO"}
            _set_choices(entry, kind)
        else:
            return None
        self._options(entry, opts)
        self._media(node, name, entry, opts)
        return entry

    def _from_schema(self, node: NodeDef, schema: IoSchema) -> None:
        node.output_node = schema.args.get("is_output_node") is True
        inputs = schema.args.get("inputs", [])
        if not isinstance(inputs, (list, tuple)):
            node.unresolved.append("(inputs)")
            inputs = []
        for item in inputs:
            if not isinstance(item, IoInput):
                node.unresolved.append("(input)")
                continue
            opts = dict(item.options)
            kind = item.io.io_type
            entry: dict[str, Any]
            if item.io.name in ("Combo", "MultiCombo"):
                entry = {"type": "COMBO"}
                _set_choices(entry, opts.get("options", UNKNOWN))
                upload = opts.get("upload")
                if isinstance(upload, str):
                    opts[upload] = True
            elif kind in WIDGET_TYPES:
                entry = {"type": kind}
            elif isinstance(kind, str) and kind and not kind.startswith("COMFY_"):
                entry = {"type": kind, "link": True}
            else:
                node.unresolved.append(item.id)
                continue
            self._options(entry, opts)
            self._media(node, item.id, entry, opts)
            self._add(node, item.id, entry, opts.get("optional") is True)
        outputs = schema.args.get("outputs", [])
        if isinstance(outputs, (list, tuple)):
            node.outputs = [o.io_type if isinstance(o, IoOutput) else "*" for o in outputs]

    def _add(self, node: NodeDef, name: str, entry: dict[str, Any] | None, optional: bool) -> None:
        if entry is None:
            node.unresolved.append(name)
            return
        node.inputs[name] = entry
        if optional:
            node.optional.append(name)

    @staticmethod
    def _options(entry: dict[str, Any], opts: dict[str, Any]) -> None:
        kind = entry["type"]
        default = opts.get("default", UNKNOWN)
        if not entry.get("link") and _fits(kind, default):
            entry["default"] = default
        if kind in ("INT", "FLOAT"):
            for key in ("min", "max", "step"):
                if _finite(opts.get(key, UNKNOWN)):
                    entry[key] = opts[key]
        if kind == "STRING" and opts.get("multiline") is True:
            entry["multiline"] = True
        if opts.get("control_after_generate") is True:
            entry["control_after_generate"] = True

    def _media(self, node: NodeDef, name: str, entry: dict[str, Any], opts: dict[str, Any]) -> None:
        for flag, media in (
            ("image_upload", "image"),
            ("video_upload", "video"),
            ("audio_upload", "audio"),
        ):
            if opts.get(flag) is True:
                entry["media"] = media
                return
        class_name = node.cls.node.name
        if entry.get("choices_from") == "input":
            if name == "directory":
                entry.update(media="image", accepts="directory")
                return
            kind = _kind_by_name(f"{node.name} {class_name}")
            if kind:
                entry["media"] = kind
            return
        extensions = opts.get("vhs_path_extensions")
        # (a filename_prefix path of VHS_VideoCombine is where files go, not a file to load)
        if isinstance(extensions, (list, tuple)) and not node.output_node:
            exts = {str(e).lower().lstrip(".") for e in extensions}
            if name == "directory":
                entry.update(media="image", accepts="directory")
            elif exts & VIDEO_EXTENSIONS:
                entry.update(media="video", accepts="url_or_path")
            elif exts & AUDIO_EXTENSIONS:
                entry.update(media="audio", accepts="url_or_path")
            elif exts & IMAGE_EXTENSIONS:
                entry.update(media="image", accepts="url_or_path")
            return
        table = PATH_INPUTS.get((self.pack.name, class_name, name))
        if table:
            entry.update(media=table[0], accepts=table[1])

    def _output_kind(self, node: NodeDef) -> str | None:
        if not node.output_node:
            return None
        names = f"{node.name} {node.cls.node.name}"
        if not any(word in names for word in ("Save", "Preview", "Combine")) or "Model" in names:
            return None
        media_inputs = [
            OUTPUT_LINK_TYPES[e["type"]]
            for e in node.inputs.values()
            if e["type"] in OUTPUT_LINK_TYPES
        ]
        if not media_inputs:
            return None
        lowered = names.lower()
        if any(word in lowered for word in ("video", "animated", "animation", "webm", "gif")):
            return "video"
        return media_inputs[0]


def _kind_by_name(names: str) -> str | None:
    lowered = names.lower()
    if "video" in lowered:
        return "video"
    if "audio" in lowered:
        return "audio"
    if "image" in lowered or "mask" in lowered:
        return "image"
    return None


def _is_mapping_name(var: str) -> bool:
    return (var.endswith("CLASS_MAPPINGS") or var == "NODE_CONFIG") and "DISPLAY" not in var


def _is_test_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return any(p in ("tests", "test", "testframework", "example_workflows") for p in parts)


def _set_choices(entry: dict[str, Any], value: Any) -> None:
    if isinstance(value, FolderChoices):
        entry["choices"] = None
        entry["choices_from"] = value.folder
    elif isinstance(value, (list, tuple)) and all(_is_json_scalar(v) for v in value):
        entry["choices"] = list(value)


def _is_json_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int, bool))


def _fits(kind: str, value: Any) -> bool:
    """Whether a declared default is a value of its input's type (else it is left out)."""
    if kind in ("INT", "FLOAT"):
        return _finite(value)
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind == "STRING":
        return isinstance(value, str)
    return _is_json_scalar(value)


def _finite(value: Any) -> bool:
    return _is_number(value) and (not isinstance(value, float) or math.isfinite(value))


def _output_names(value: Any) -> list[str]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (list, tuple)):
        return []
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, (list, tuple, FolderChoices)):
            out.append("COMBO")
        else:
            out.append("*")
    return out


# ---------------------------------------------------------------------------------------------
# The whole run.


def _io_tables(core: Source) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The io types (Int -> INT, ...) and enums of ComfyUI's comfy_api, read from _io.py."""
    module = core.find_module("comfy_api.latest._io")
    if module is None:
        return {}, {}
    core.used.add(module.path)
    types: dict[str, str] = {}
    enums: dict[str, dict[str, str]] = {}
    for stmt in module.tree.body:
        if not isinstance(stmt, ast.ClassDef):
            continue
        for deco in stmt.decorator_list:
            if isinstance(deco, ast.Call) and _call_name(deco.func) == "comfytype":
                for kw in deco.keywords:
                    if kw.arg == "io_type" and isinstance(kw.value, ast.Constant):
                        types[stmt.name] = str(kw.value.value)
        if any(isinstance(b, ast.Name) and b.id == "Enum" for b in stmt.bases):
            members = {}
            for item in stmt.body:
                if isinstance(item, ast.Assign) and isinstance(item.value, ast.Constant):
                    for target in item.targets:
                        if isinstance(target, ast.Name):
                            members[target.id] = str(item.value.value)
            enums[stmt.name] = members
    return types, enums


def mirror_dir(mirror_root: Path, repo: str) -> Path:
    base = mirror_root / repo.replace("/", "+") / "repo"
    return base / ".git" if (base / ".git").is_dir() else base


def build(mirror_root: Path, packs: tuple[Pack, ...] = PACKS) -> dict[str, Any]:
    sources = []
    for pack in packs:
        git_dir = mirror_dir(mirror_root, pack.repo)
        if not git_dir.is_dir():
            raise GenError(f"no mirror of {pack.repo} at {git_dir}")
        sources.append(Source(pack, git_dir))
    _CORE_SOURCE[0] = sources[0]
    io_types, io_enums = _io_tables(sources[0])
    evaluator = _Evaluator(io_types, io_enums)
    nodes: dict[str, dict[str, Any]] = {}
    for source in sources:
        reader = PackReader(source, evaluator)
        for name, cls in sorted(reader.registrations().items()):
            if name in nodes:
                continue  # the first pack (ComfyUI, then the most used) keeps a name
            nodes[name] = reader.node(name, cls).record()
    return {
        "format": FORMAT,
        "generator": GENERATOR,
        "sources": [
            {
                "pack": s.pack.name,
                "repo": s.pack.repo,
                "commit": s.pack.commit,
                "license": s.license(),
                "files": sorted(s.used),
            }
            for s in sources
        ],
        "nodes": dict(sorted(nodes.items())),
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--mirror-root",
        type=Path,
        required=True,
        metavar="DIR",
        help="where the bare git copies of ComfyUI and the packs are (owner+name/ folders)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="regenerate and compare with --out")
    args = parser.parse_args(argv)
    try:
        text = render(build(args.mirror_root))
    except GenError as exc:
        print(f"gen_nodes: {exc}", file=sys.stderr)
        return 1
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(
                f"gen_nodes: {args.out} is not what the mirrors give; regenerate it",
                file=sys.stderr,
            )
            return 1
        print(f"gen_nodes: {args.out} is up to date")
        return 0
    args.out.write_text(text, encoding="utf-8")
    count = text.count('"pack":') - len(PACKS)
    print(f"gen_nodes: wrote {args.out} ({count} nodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
