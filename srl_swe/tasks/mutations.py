"""AST-located bug injection (in the spirit of SWE-smith's procedural mutations).

The stdlib :mod:`ast` finds the mutation *sites*; the mutated source is made by editing only
the exact source span of the site (operators are located with :mod:`tokenize`), so the diff
is minimal and the formatting around it is untouched::

    source = Path("toolz/itertoolz.py").read_text()
    for m in find_mutations(source, "toolz/itertoolz.py"):
        m.kind, m.line, m.function, m.id          # 'flip_comparison', 112, 'partition_all', 'flip_comparison-3f9c0a1b2e'
        buggy = m.apply(source)
        m.bug_patch(source)                       # unified diff original -> buggy (git apply-able)
        m.fix_patch(source)                       # its inverse: the gold fix

Only code inside function bodies is mutated (module-level code, decorators, defaults,
annotations and docstrings are left alone), and a candidate is kept only when the mutated
file parses and its AST differs from the original's. Enumeration does not depend on any
seed; ids depend only on the file's path and content and the edit; :func:`sample_mutations`
orders candidates reproducibly from a seed, interleaving kinds, files and functions.
"""
from __future__ import annotations

import ast
import bisect
import hashlib
import io
import random
import re
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..patches import split_lines, unified_diff

MUTATION_KINDS: tuple[str, ...] = (
    "flip_comparison",      # <  ->  >=,  == -> !=,  in -> not in,  is -> is not
    "comparison_boundary",  # <  ->  <=,  >  -> >=   (off-by-one at a boundary)
    "off_by_one",           # integer in an index/slice/range bound or a +/- term moved by one; range(n) -> range(n - 1)
    "arithmetic_operator",  # +  ->  -,  *  ->  /,  // -> /,  += -> -=, ...
    "boolean_operator",     # and <-> or
    "negate_condition",     # if c:  ->  if not c:   (and `not c` -> `c`)
    "drop_statement",       # a return/raise/break/continue inside a branch, a side-effect or re-assignment disappears
    "drop_guard",           # an early-exit `if ...: return/raise` guard disappears
    "swap_arguments",       # f(a, b)  ->  f(b, a)
    "change_constant",      # True <-> False, integers moved
    "wrong_variable",       # a local variable read is replaced by another local of the same function
)
"""Every mutation kind :func:`find_mutations` produces."""

_FLIP = {ast.Lt: ">=", ast.GtE: "<", ast.Gt: "<=", ast.LtE: ">", ast.Eq: "!=", ast.NotEq: "==",
         ast.In: "not in", ast.NotIn: "in", ast.Is: "is not", ast.IsNot: "is"}
_BOUNDARY = {ast.Lt: "<=", ast.LtE: "<", ast.Gt: ">=", ast.GtE: ">"}
_ARITH = {ast.Add: "-", ast.Sub: "+", ast.Mult: "/", ast.Div: "*", ast.FloorDiv: "/", ast.Mod: "//",
          ast.Pow: "*", ast.LShift: ">>", ast.RShift: "<<", ast.BitOr: "&", ast.BitAnd: "|", ast.BitXor: "|"}
_OP_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
            ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^",
            ast.MatMult: "@"}
_CMP_TEXT = {ast.Lt: "<", ast.GtE: ">=", ast.Gt: ">", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!=",
             ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
_NO_SWAP_CALLS = frozenset({"isinstance", "issubclass", "hasattr", "getattr", "setattr", "delattr", "super",
                            "print", "warn", "format", "join"})
_ATOMIC = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.Constant, ast.List, ast.Tuple, ast.Dict,
           ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.JoinedStr)


@dataclass(frozen=True)
class Edit:
    """Replace ``source[start:end]`` (character offsets), which must read ``original``, with ``replacement``."""

    start: int
    end: int
    original: str
    replacement: str


@dataclass(frozen=True)
class Mutation:
    """One bug a source file can be given: where, what kind, and the exact span edit(s)."""

    kind: str
    """One of :data:`MUTATION_KINDS`."""
    file: str
    """Path of the file, relative to the repository root (as in the patches)."""
    line: int
    """1-based line of the first edit."""
    end_line: int
    """1-based last line touched by the edits."""
    function: str
    """Qualified name of the enclosing function (``Class.method``, ``outer.<locals>.inner``)."""
    edits: tuple[Edit, ...]
    """Non-overlapping span edits, in source order."""
    detail: str = ""
    """What changes, e.g. ``'< -> >='`` (for logs and reports; never shown to the agent)."""
    digest: str = field(default="", compare=False)
    """Short hash of the original file content (part of the id)."""

    @property
    def id(self) -> str:
        """Deterministic id: kind plus a hash of file, file content, spans and replacements."""
        key = "\0".join([self.file, self.digest, self.kind]
                        + [f"{e.start}:{e.end}:{e.replacement}" for e in self.edits])
        return f"{self.kind}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"

    def apply(self, source: str) -> str:
        """The mutated source; raises ValueError when ``source`` is not the file this was found in."""
        out, pos = [], 0
        for edit in self.edits:
            if source[edit.start:edit.end] != edit.original:
                raise ValueError(f"{self.file}: mutation {self.id} does not match the source at offset {edit.start}")
            out += [source[pos:edit.start], edit.replacement]
            pos = edit.end
        out.append(source[pos:])
        return "".join(out)

    def bug_patch(self, source: str) -> str:
        """Unified diff (git format) that injects the bug into ``source``."""
        return unified_diff(self.file, source, self.apply(source))

    def fix_patch(self, source: str) -> str:
        """Unified diff that removes the bug again: the gold patch."""
        return unified_diff(self.file, self.apply(source), source)

    def to_dict(self) -> dict:
        """JSON-friendly description (id, kind, file, line, function, detail)."""
        return {"id": self.id, "kind": self.kind, "file": self.file, "line": self.line,
                "end_line": self.end_line, "function": self.function, "detail": self.detail}


# --------------------------------------------------------------------------- source positions


class _Source:
    """Character offsets for ast (UTF-8 byte columns) and tokenize (character columns) positions."""

    def __init__(self, text: str):
        self.text = text
        self.lines = split_lines(text)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self._tokens: list[tuple[int, int, int, str]] | None = None
        self._token_starts: list[int] = []

    def offset(self, lineno: int, byte_col: int) -> int:
        line = self.lines[lineno - 1] if lineno - 1 < len(self.lines) else ""
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
                self.offset(node.end_lineno, node.end_col_offset))  # type: ignore[attr-defined]

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]

    def line_of(self, offset: int) -> int:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    @property
    def tokens(self) -> list[tuple[int, int, int, str]]:
        """(type, start, end, string) of OP and NAME tokens, in order."""
        if self._tokens is None:
            toks = []
            try:
                for tok in tokenize.generate_tokens(io.StringIO(self.text).readline):
                    if tok.type in (tokenize.OP, tokenize.NAME):
                        start = self.starts[tok.start[0] - 1] + tok.start[1]
                        end = self.starts[tok.end[0] - 1] + tok.end[1]
                        toks.append((tok.type, start, end, tok.string))
            except (tokenize.TokenError, IndentationError, SyntaxError):
                toks = []  # no operator mutations for this file
            self._tokens = toks
            self._token_starts = [t[1] for t in toks]
        return self._tokens

    def operator_between(self, lo: int, hi: int, expected: str) -> tuple[int, int] | None:
        """Span of the operator tokens spelling ``expected`` between offsets lo and hi (parentheses skipped)."""
        tokens = self.tokens
        i = bisect.bisect_left(self._token_starts, lo)
        found = []
        while i < len(tokens) and tokens[i][2] <= hi:
            if tokens[i][3] not in ("(", ")"):
                found.append(tokens[i])
            i += 1
        if not found or " ".join(t[3] for t in found) != expected:
            return None
        return found[0][1], found[-1][2]


# --------------------------------------------------------------------------- the finder


@dataclass
class _Scope:
    qualname: str
    node: ast.AST
    first_binding: dict[str, int]
    """Local names (parameters, assignment targets) -> line of their first binding."""


def _local_bindings(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, int]:
    names: dict[str, int] = {}
    args = fn.args
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if arg is not None:
            names.setdefault(arg.arg, fn.lineno)
    declared_global: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.setdefault(child.name, child.lineno)
                continue
            if isinstance(child, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                continue  # their variables live in their own scope
            if isinstance(child, (ast.Global, ast.Nonlocal)):
                declared_global.update(child.names)
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.setdefault(child.id, child.lineno)
            visit(child)

    for stmt in fn.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.setdefault(stmt.name, stmt.lineno)
        else:
            visit(stmt)
    for name in declared_global:
        names.pop(name, None)
    return names


class _Finder:
    def __init__(self, source: str, path: str):
        self.src = _Source(source)
        self.path = path
        self.tree = ast.parse(source, filename=path)
        self.digest = hashlib.sha1(source.encode()).hexdigest()[:12]
        self.out: list[tuple[Mutation, ast.AST]] = []
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(self.tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent

    # -------------------------------------------------------------- emit

    def emit(self, kind: str, scope: _Scope, edits: list[Edit], detail: str) -> None:
        edits = sorted(edits, key=lambda e: e.start)
        if not edits or any(a.end > b.start for a, b in zip(edits, edits[1:])):
            return
        if all(e.original == e.replacement for e in edits):
            return
        line = self.src.line_of(edits[0].start)
        end_line = self.src.line_of(max(edits[-1].end - 1, edits[-1].start))
        self.out.append((Mutation(kind, self.path, line, end_line, scope.qualname, tuple(edits), detail, self.digest),
                         scope.node))

    def edit(self, node: ast.AST, replacement: str) -> Edit:
        start, end = self.src.span(node)
        return Edit(start, end, self.src.text[start:end], replacement)

    # -------------------------------------------------------------- walk

    def run(self) -> list[tuple[Mutation, ast.AST]]:
        self._walk_defs(self.tree, "")
        return self.out

    def _walk_defs(self, node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                self._walk_defs(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = f"{prefix}{child.name}"
                scope = _Scope(qual, child, _local_bindings(child))
                body = child.body
                if body and _is_docstring(body[0]):
                    body = body[1:]
                self._block(body, scope, top=True)
                for stmt in body:
                    self._walk_defs_in(stmt, f"{qual}.<locals>.")
            elif isinstance(child, (ast.If, ast.Try, ast.With, ast.For, ast.While)) and not prefix:
                self._walk_defs(child, prefix)  # functions defined under `if sys.version...:` at module level

    def _walk_defs_in(self, node: ast.AST, prefix: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            wrapper = ast.Module(body=[node], type_ignores=[])
            self._walk_defs(wrapper, prefix)
            return
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self._walk_defs_in(child, prefix)

    def _block(self, stmts: list[ast.stmt], scope: _Scope, *, top: bool = False, branch: bool = False) -> None:
        for i, stmt in enumerate(stmts):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # walked separately with their own scope
            self._drops(stmt, stmts, scope, top=top, branch=branch)
            self._statement(stmt, scope)

    def _statement(self, stmt: ast.stmt, scope: _Scope) -> None:
        if isinstance(stmt, ast.If):
            if not _is_main_guard(stmt):
                self._negate(stmt.test, scope)
                self._expr(stmt.test, scope)
                self._block(stmt.body, scope, branch=True)
                self._block(stmt.orelse, scope, branch=True)
            return
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            self._expr(stmt.iter, scope)
            self._block(stmt.body, scope, branch=True)
            self._block(stmt.orelse, scope, branch=True)
            return
        if isinstance(stmt, ast.While):
            self._expr(stmt.test, scope, in_loop_test=True)
            self._block(stmt.body, scope, branch=True)
            self._block(stmt.orelse, scope, branch=True)
            return
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                self._expr(item.context_expr, scope)
            self._block(stmt.body, scope, branch=True)
            return
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self._block(stmt.body, scope, branch=True)  # type: ignore[attr-defined]
            for handler in stmt.handlers:  # type: ignore[attr-defined]
                self._block(handler.body, scope, branch=True)
            self._block(stmt.orelse, scope, branch=True)  # type: ignore[attr-defined]
            self._block(stmt.finalbody, scope, branch=True)  # type: ignore[attr-defined]
            return
        if isinstance(stmt, ast.AugAssign):
            self._aug(stmt, scope)
            self._expr(stmt.value, scope)
            return
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            if stmt.value is not None:
                self._expr(stmt.value, scope)
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Subscript):
                    self._expr(target.slice, scope)
            return
        if isinstance(stmt, (ast.Return, ast.Expr)):
            if stmt.value is not None and not _is_docstring(stmt):
                self._expr(stmt.value, scope)
            return
        if isinstance(stmt, ast.Raise):
            return  # the exception's message is not interesting to mutate
        if isinstance(stmt, ast.Assert):
            return  # asserts are often stripped (-O); leave them
        if type(stmt).__name__ == "Match":
            for case in stmt.cases:  # type: ignore[attr-defined]
                self._block(case.body, scope, branch=True)

    # -------------------------------------------------------------- statement-level mutations

    def _own_lines(self, stmt: ast.stmt) -> tuple[int, int] | None:
        """Offsets of the whole lines a statement occupies, if nothing else shares them."""
        start, end = self.src.span(stmt)
        line_start = self.src.starts[stmt.lineno - 1]
        if self.src.text[line_start:start].strip():
            return None
        last = self.src.lines[stmt.end_lineno - 1]  # type: ignore[index]
        line_end = self.src.starts[stmt.end_lineno - 1] + len(last)  # type: ignore[operator]
        rest = self.src.text[end:line_end].strip()
        if rest and not rest.startswith("#"):
            return None
        return line_start, line_end

    def _remove(self, stmt: ast.stmt, stmts: list[ast.stmt]) -> list[Edit] | None:
        lines = self._own_lines(stmt)
        if lines is None:
            return None
        real = [s for s in stmts if not _is_docstring(s)]
        if len(real) == 1:  # the block would be empty: leave a `pass`
            return [self.edit(stmt, "pass")]
        start, end = lines
        return [Edit(start, end, self.src.text[start:end], "")]

    def _drops(self, stmt: ast.stmt, stmts: list[ast.stmt], scope: _Scope, *, top: bool, branch: bool) -> None:
        kind = None
        if isinstance(stmt, (ast.Return, ast.Raise, ast.Continue, ast.Break)) and branch:
            kind = "drop_statement"
        elif isinstance(stmt, ast.AugAssign):
            kind = "drop_statement"
        elif isinstance(stmt, ast.Assign):
            targets = stmt.targets
            side_effect = all(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets)
            rebinding = all(isinstance(t, ast.Name) and scope.first_binding.get(t.id, 10**9) < stmt.lineno
                            for t in targets)
            if side_effect or rebinding:
                kind = "drop_statement"
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Call, ast.Await)) and not _is_docstring(stmt):
            kind = "drop_statement"
        elif (isinstance(stmt, ast.If) and not stmt.orelse and len(stmt.body) <= 3
              and isinstance(stmt.body[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break))
              and len(stmts) >= 2 and not _is_main_guard(stmt)):
            edits = self._remove(stmt, stmts)
            if edits:
                self.emit("drop_guard", scope, edits, f"remove `if` guard ending in {type(stmt.body[-1]).__name__.lower()}")
            return
        if kind:
            edits = self._remove(stmt, stmts)
            if edits:
                self.emit(kind, scope, edits, f"remove {type(stmt).__name__.lower()} statement")

    def _negate(self, test: ast.expr, scope: _Scope) -> None:
        text = self.src.segment(test)
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            replacement = self.src.segment(test.operand)
            if isinstance(test.operand, (ast.BoolOp, ast.IfExp, ast.Lambda, ast.NamedExpr)):
                replacement = f"({replacement})"
            self.emit("negate_condition", scope, [self.edit(test, replacement)], "drop `not`")
            return
        replacement = f"not {text}" if isinstance(test, _ATOMIC) else f"not ({text})"
        self.emit("negate_condition", scope, [self.edit(test, replacement)], "add `not`")

    def _aug(self, stmt: ast.AugAssign, scope: _Scope) -> None:
        op = type(stmt.op)
        if op not in _ARITH or _stringish(stmt.value):
            return
        t_end = self.src.span(stmt.target)[1]
        v_start = self.src.span(stmt.value)[0]
        span = self.src.operator_between(t_end, v_start, _OP_TEXT[op] + "=")
        if span:
            new = _ARITH[op] + "="
            self.emit("arithmetic_operator", scope, [Edit(span[0], span[1], self.src.text[span[0]:span[1]], new)],
                      f"{_OP_TEXT[op]}= -> {new}")

    # -------------------------------------------------------------- expression-level mutations

    def _expr(self, root: ast.expr, scope: _Scope, *, in_loop_test: bool = False) -> None:
        for node in _walk_expr(root):
            if isinstance(node, ast.Compare):
                self._compare(node, scope)
            elif isinstance(node, ast.BinOp):
                self._binop(node, scope)
            elif isinstance(node, ast.BoolOp) and not in_loop_test:
                self._boolop(node, scope)
            elif isinstance(node, ast.IfExp):
                self._negate(node.test, scope)
            elif isinstance(node, ast.Call):
                self._call(node, scope)
            elif isinstance(node, ast.Constant):
                self._constant(node, scope)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                self._name(node, scope)

    def _compare(self, node: ast.Compare, scope: _Scope) -> None:
        left = node.left
        for op, right in zip(node.ops, node.comparators):
            lo, hi = self.src.span(left)[1], self.src.span(right)[0]
            span = self.src.operator_between(lo, hi, _CMP_TEXT[type(op)])
            left = right
            if span is None:
                continue
            old = self.src.text[span[0]:span[1]]
            flip = _FLIP[type(op)]
            self.emit("flip_comparison", scope, [Edit(span[0], span[1], old, flip)], f"{old} -> {flip}")
            if type(op) in _BOUNDARY:
                new = _BOUNDARY[type(op)]
                self.emit("comparison_boundary", scope, [Edit(span[0], span[1], old, new)], f"{old} -> {new}")

    def _binop(self, node: ast.BinOp, scope: _Scope) -> None:
        op = type(node.op)
        if op not in _ARITH:
            return
        if op in (ast.Add, ast.Mod) and (_stringish(node.left) or _stringish(node.right)):
            return  # string concatenation / %-formatting
        lo, hi = self.src.span(node.left)[1], self.src.span(node.right)[0]
        span = self.src.operator_between(lo, hi, _OP_TEXT[op])
        if span:
            new = _ARITH[op]
            self.emit("arithmetic_operator", scope, [Edit(span[0], span[1], self.src.text[span[0]:span[1]], new)],
                      f"{_OP_TEXT[op]} -> {new}")

    def _boolop(self, node: ast.BoolOp, scope: _Scope) -> None:
        word, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        edits = []
        for a, b in zip(node.values, node.values[1:]):
            span = self.src.operator_between(self.src.span(a)[1], self.src.span(b)[0], word)
            if span is None:
                return
            edits.append(Edit(span[0], span[1], word, new))
        self.emit("boolean_operator", scope, edits, f"{word} -> {new}")

    def _call(self, node: ast.Call, scope: _Scope) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        # range bounds: range(n) -> range(n - 1)
        if name == "range" and node.args and not any(isinstance(a, ast.Starred) for a in node.args):
            stop = node.args[0] if len(node.args) == 1 else node.args[1]
            if not (isinstance(stop, ast.Constant) or _int_const(stop) is not None):
                text = self.src.segment(stop)
                new = f"{text} - 1" if isinstance(stop, _ATOMIC) else f"({text}) - 1"
                self.emit("off_by_one", scope, [self.edit(stop, new)], "range stop - 1")
        if (name and name not in _NO_SWAP_CALLS and len(node.args) >= 2
                and not any(isinstance(a, ast.Starred) for a in node.args[:2])):
            a, b = node.args[0], node.args[1]
            ta, tb = self.src.segment(a), self.src.segment(b)
            if ta != tb and "\n" not in ta and "\n" not in tb:
                self.emit("swap_arguments", scope, [self.edit(a, tb), self.edit(b, ta)], f"swap arguments 1 and 2 of {name}()")

    def _constant(self, node: ast.Constant, scope: _Scope) -> None:
        value = node.value
        text = self.src.segment(node)
        if isinstance(value, bool):
            self.emit("change_constant", scope, [self.edit(node, str(not value))], f"{value} -> {not value}")
            return
        if not isinstance(value, int) or not re.fullmatch(r"\d+", text):
            return  # hex/underscored/huge literals and floats are left alone
        parent = self.parents.get(node)
        grand = self.parents.get(parent) if parent is not None else None
        in_bound = (isinstance(parent, (ast.Slice, ast.Subscript))
                    or (isinstance(parent, ast.UnaryOp) and isinstance(grand, (ast.Slice, ast.Subscript)))
                    or (isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Add, ast.Sub)))
                    or (isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "range"))
        if isinstance(parent, ast.Subscript) and parent.value is node:
            return
        new = value - 1 if value > 1 else value + 1
        if in_bound:
            self.emit("off_by_one", scope, [self.edit(node, str(new))], f"{value} -> {new}")
        elif value < 10_000:
            new = 1 if value == 0 else 0 if value == 1 else value + 1
            self.emit("change_constant", scope, [self.edit(node, str(new))], f"{value} -> {new}")

    def _name(self, node: ast.Name, scope: _Scope) -> None:
        first = scope.first_binding.get(node.id)
        if first is None or first > node.lineno:
            return
        parent = self.parents.get(node)
        if isinstance(parent, ast.Call) and parent.func is node:
            return  # calling another local is rarely a plausible slip
        if isinstance(parent, ast.Attribute) and node.id in ("self", "cls"):
            return
        choices = sorted(n for n, line in scope.first_binding.items()
                         if n != node.id and line <= node.lineno and n not in ("self", "cls")
                         and not n.startswith("__"))
        if not choices or node.id in ("self", "cls"):
            return
        pick = int(hashlib.sha1(f"{scope.qualname}:{node.lineno}:{node.col_offset}".encode()).hexdigest(), 16)
        new = choices[pick % len(choices)]
        self.emit("wrong_variable", scope, [self.edit(node, new)], f"{node.id} -> {new}")


def _walk_expr(root: ast.expr) -> Iterator[ast.AST]:
    """Nodes of an expression, parents first (lambdas and f-string internals are not entered)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.Lambda, ast.JoinedStr)):
            continue  # f-strings' inner expressions are formatting details
        children: list[ast.expr] = []
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                children.append(child)
            elif isinstance(child, ast.keyword):
                children.append(child.value)
            elif isinstance(child, ast.comprehension):
                children += [child.iter, *child.ifs]
        stack.extend(reversed(children))


def _is_docstring(stmt: ast.AST) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))


def _is_main_guard(stmt: ast.If) -> bool:
    text = ast.dump(stmt.test)
    return "__name__" in text or "TYPE_CHECKING" in text


def _stringish(node: ast.AST) -> bool:
    return (isinstance(node, ast.JoinedStr)
            or (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))))


def _int_const(node: ast.AST) -> int | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int_const(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    return None


# --------------------------------------------------------------------------- public API


def find_mutations(source: str, path: str, *, kinds: Iterable[str] | None = None) -> list[Mutation]:
    """Every valid mutation of one Python file, in source order (seed-independent).

    ``path`` is the file's repository-relative path (it goes into ids and patches). A
    mutation is kept only if the mutated file still parses and its AST differs from the
    original's. Files that do not parse yield nothing.
    """
    wanted = set(kinds) if kinds is not None else set(MUTATION_KINDS)
    unknown = wanted - set(MUTATION_KINDS)
    if unknown:
        raise ValueError(f"unknown mutation kind(s) {sorted(unknown)}; known: {', '.join(MUTATION_KINDS)}")
    try:
        finder = _Finder(source, path)
    except (SyntaxError, ValueError):
        return []
    # Every edit lies inside one function, which parses on its own under an `if 1:` header (any
    # indentation is then valid): checking that region is as good as re-parsing the whole file
    # and much cheaper.
    original_dumps: dict[int, str] = {}
    seen: set[str] = set()
    result = []
    for mutation, fn in sorted(finder.run(), key=lambda p: (p[0].edits[0].start, p[0].kind, p[0].edits[0].replacement)):
        if mutation.kind not in wanted or mutation.id in seen:
            continue
        seen.add(mutation.id)
        start = finder.src.starts[fn.lineno - 1]  # type: ignore[attr-defined]
        end = finder.src.starts[fn.end_lineno]  # type: ignore[attr-defined]
        if mutation.edits[0].start < start or mutation.edits[-1].end > end:
            continue
        snippet = source[start:end]
        key = id(fn)
        if key not in original_dumps:
            original_dumps[key] = _region_dump(snippet)
        shifted = Mutation(mutation.kind, mutation.file, mutation.line, mutation.end_line, mutation.function,
                           tuple(Edit(e.start - start, e.end - start, e.original, e.replacement) for e in mutation.edits))
        mutated = _region_dump(shifted.apply(snippet))
        if mutated is not None and mutated != original_dumps[key]:
            result.append(mutation)
    return result


def _region_dump(snippet: str) -> str | None:
    """AST dump of one function's source lines (an indented one under `if 1:`), or None if it does not parse."""
    try:
        return ast.dump(ast.parse(("if 1:\n" if snippet[:1].isspace() else "") + snippet))
    except (SyntaxError, ValueError):
        return None


def sample_mutations(mutations: Iterable[Mutation], seed: int = 0, limit: int | None = None) -> list[Mutation]:
    """A reproducible, diverse order: shuffled by ``seed``, then round-robin over kinds and files.

    Within each kind, candidates alternate between files and between functions, so the first
    ``n`` of the result spread over as many kinds, files and functions as possible.
    """
    rng = random.Random(seed)
    pool = sorted(mutations, key=lambda m: m.id)
    rng.shuffle(pool)
    by_kind: dict[str, list[Mutation]] = defaultdict(list)
    for m in pool:
        by_kind[m.kind].append(m)
    queues = []
    for kind in sorted(by_kind, key=lambda k: (MUTATION_KINDS.index(k), k)):
        queues.append(_spread(by_kind[kind]))
    order = [kinds for kinds in queues]
    rng.shuffle(order)
    out: list[Mutation] = []
    while any(order):
        for q in order:
            if q:
                out.append(q.pop(0))
                if limit is not None and len(out) >= limit:
                    return out
    return out


def _spread(items: list[Mutation]) -> list[Mutation]:
    """Interleave by (file, function): first one of each function, file by file, then the second..."""
    groups: dict[tuple[str, str], list[Mutation]] = defaultdict(list)
    for m in items:
        groups[(m.file, m.function)].append(m)
    by_file: dict[str, list[list[Mutation]]] = defaultdict(list)
    for (file, _), group in groups.items():
        by_file[file].append(group)
    out: list[Mutation] = []
    rounds = 0
    while len(out) < len(items):
        for file in by_file:
            for group in by_file[file]:
                if rounds < len(group):
                    out.append(group[rounds])
        rounds += 1
    # reorder so consecutive entries alternate files
    per_file: dict[str, list[Mutation]] = defaultdict(list)
    for m in out:
        per_file[m.file].append(m)
    result: list[Mutation] = []
    while any(per_file.values()):
        for file in list(per_file):
            if per_file[file]:
                result.append(per_file[file].pop(0))
    return result
