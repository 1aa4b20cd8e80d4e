"""Which names a cell reads, binds and changes in place, from its AST.

* ``reads`` are the cell's inputs: global names loaded before the cell binds them
  (in order of first use), including globals used inside functions, lambdas,
  comprehensions and classes the cell defines;
* ``binds`` are the module-level names the cell (re)binds: the candidates for metrics,
  models and output datasets;
* ``mutated`` are names the cell changes without rebinding: ``df["x"] = …``,
  ``obj.attr = …``, ``model.fit(…)``, ``df.dropna(inplace=True)``.

Control flow is read statically (both branches of an ``if`` count), which is what we want:
the tracker checks at the end which bound names really hold a new object.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

FITTING_METHODS = frozenset({"fit", "partial_fit", "fit_transform", "fit_predict",
                             "fit_resample"})


@dataclass(frozen=True, slots=True)
class CellNames:
    reads: tuple[str, ...]
    binds: tuple[str, ...]
    mutated: tuple[str, ...]


def _base_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _target_names(node: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


def _local_names(body: list[ast.stmt], args: ast.arguments | None,
                 kind: type[_Scope] | None = None) -> _Scope:
    """Names local to a function scope (its parameters and what it assigns)."""
    local: set[str] = set()
    declared_global: set[str] = set()
    declared_nonlocal: set[str] = set()
    if args is not None:
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs):
            local.add(a.arg)
        if args.vararg:
            local.add(args.vararg.arg)
        if args.kwarg:
            local.add(args.kwarg.arg)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Global):
            declared_global.update(node.names)
            return
        if isinstance(node, ast.Nonlocal):
            declared_nonlocal.update(node.names)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            local.add(node.name)
            return  # a nested scope: its own locals are its own
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            local.add(node.id)
        elif isinstance(node, ast.alias):
            local.add((node.asname or node.name).split(".")[0])
        elif (isinstance(node, ast.ExceptHandler) and node.name) or (isinstance(node, ast.MatchAs | ast.MatchStar) and node.name):
            local.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            local.add(node.rest)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in body:
        visit(stmt)
    scope = (kind or _Scope)(local - declared_global - declared_nonlocal)
    scope.globals = frozenset(declared_global)
    return scope


class _Analyzer(ast.NodeVisitor):
    def __init__(self) -> None:
        self.reads: dict[str, None] = {}
        self.binds: dict[str, None] = {}
        self.mutated: dict[str, None] = {}
        self.bound: set[str] = set()
        self.scopes: list[set[str]] = []  # locals of enclosing function/comprehension scopes

    # -- names -----------------------------------------------------------------------
    def _local(self, name: str) -> bool:
        """Is ``name`` local here? A ``global`` declaration sends it to the module, and a
        class body's names are not visible in the functions and comprehensions in it."""
        for depth, scope in enumerate(reversed(self.scopes)):
            if name in getattr(scope, "globals", ()):
                return False
            if name in scope and (depth == 0 or not isinstance(scope, _ClassScope)):
                return True
        return False

    def _load(self, name: str) -> None:
        if self._local(name):
            return
        if name not in self.bound:
            self.reads.setdefault(name)

    def _store(self, name: str) -> None:
        if self.scopes:
            return
        self.bound.add(name)
        self.binds.setdefault(name)

    def _mutate(self, node: ast.expr) -> None:
        name = _base_name(node)
        if name is not None and not self._local(name):
            if name not in self.bound:
                self.reads.setdefault(name)
            self.mutated.setdefault(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._load(node.id)
        elif isinstance(node.ctx, ast.Store):
            self._store(node.id)

    def _target(self, target: ast.expr) -> None:
        if isinstance(target, ast.Attribute | ast.Subscript):
            self._mutate(target)
            self.visit(target)  # the base and the subscript are loaded
        elif isinstance(target, ast.Tuple | ast.List):
            for elt in target.elts:
                self._target(elt)
        elif isinstance(target, ast.Starred):
            self._target(target.value)
        else:
            self.visit(target)

    # -- statements in evaluation order --------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._target(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._load(node.target.id)
            self._store(node.target.id)
        else:
            self._target(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._target(node.target)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._delete(target)

    def _delete(self, target: ast.expr) -> None:
        if isinstance(target, ast.Attribute | ast.Subscript):
            self._mutate(target)
            self.visit(target)
        elif isinstance(target, ast.Tuple | ast.List):  # del (a[0], b.c)
            for elt in target.elts:
                self._delete(elt)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self._target(node.target)
        for stmt in (*node.body, *node.orelse):
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._target(item.optional_vars)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncWith = visit_With

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        if self.scopes and isinstance(self.scopes[-1], _ComprehensionScope):
            saved, self.scopes = self.scopes, [s for s in self.scopes
                                               if not isinstance(s, _ComprehensionScope)]
            self._store(node.target.id)  # a walrus in a comprehension binds outside it
            self.scopes = saved
        else:
            self._store(node.target.id)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self._store((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._store(node.name)
        for stmt in node.body:
            self.visit(stmt)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self._store(node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._store(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        for key in node.keys:
            self.visit(key)
        for pattern in node.patterns:
            self.visit(pattern)
        if node.rest:
            self._store(node.rest)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and (
            func.attr in FITTING_METHODS
            or any(k.arg == "inplace" and isinstance(k.value, ast.Constant)
                   and k.value.value is True for k in node.keywords)
        ):
            self._mutate(func.value)
        self.generic_visit(node)

    # -- nested scopes --------------------------------------------------------------
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        for default in (*args.defaults, *[d for d in args.kw_defaults if d is not None]):
            self.visit(default)
        if not isinstance(node, ast.Lambda):
            for deco in node.decorator_list:
                self.visit(deco)
            for a in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs,
                      args.kwarg):
                if a is not None and a.annotation is not None:
                    self.visit(a.annotation)
            if node.returns is not None:
                self.visit(node.returns)
            self._store(node.name)
            body: list[ast.stmt] = node.body
        else:
            body = [ast.Expr(node.body)]
        self.scopes.append(_local_names(body, args))
        for stmt in body:
            self.visit(stmt)
        self.scopes.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self.visit(expr)
        self.scopes.append(_local_names(node.body, None, _ClassScope))
        for stmt in node.body:
            self.visit(stmt)
        self.scopes.pop()
        self._store(node.name)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp
                       | ast.DictComp) -> None:
        first, *rest = node.generators
        self.visit(first.iter)  # evaluated in the enclosing scope
        scope = _ComprehensionScope(
            n for g in node.generators for n in _target_names(g.target))
        self.scopes.append(scope)
        for cond in first.ifs:
            self.visit(cond)
        for gen in rest:
            self.visit(gen.iter)
            for cond in gen.ifs:
                self.visit(cond)
        if isinstance(node, ast.DictComp):
            self.visit(node.key)
            self.visit(node.value)
        else:
            self.visit(node.elt)
        self.scopes.pop()

    visit_ListComp = _comprehension
    visit_SetComp = _comprehension
    visit_GeneratorExp = _comprehension
    visit_DictComp = _comprehension


class _ComprehensionScope(set[str]):
    """The loop variables of a comprehension (a walrus inside binds outside)."""


class _Scope(set[str]):
    """The names local to a function or class body, and those it declares ``global``."""

    globals: frozenset[str] = frozenset()


class _ClassScope(_Scope):
    """The names a class body binds (not visible in its methods and comprehensions)."""


def analyze(tree: ast.Module) -> CellNames:
    """The names ``tree`` reads, binds and mutates at module level."""
    analyzer = _Analyzer()
    for stmt in tree.body:
        analyzer.visit(stmt)
    return CellNames(reads=tuple(analyzer.reads), binds=tuple(analyzer.binds),
                     mutated=tuple(analyzer.mutated))
