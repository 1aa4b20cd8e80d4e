"""analyze(): which names a cell reads, binds and changes in place."""

from __future__ import annotations

import ast
import textwrap

import pytest

from nbmlops.tracking.capture import FITTING_METHODS, CellNames, analyze


def names(src: str) -> CellNames:
    return analyze(ast.parse(textwrap.dedent(src)))


def reads(src: str) -> tuple[str, ...]:
    return names(src).reads


def binds(src: str) -> tuple[str, ...]:
    return names(src).binds


def mutated(src: str) -> tuple[str, ...]:
    return names(src).mutated


# -- plain statements ---------------------------------------------------------------------


def test_empty_cell() -> None:
    assert names("") == CellNames(reads=(), binds=(), mutated=())


def test_assignment_reads_the_value_and_binds_the_target() -> None:
    assert names("y = f(x) + x") == CellNames(reads=("f", "x"), binds=("y",), mutated=())


def test_reads_are_in_order_of_first_use() -> None:
    assert reads("print(c, b)\nprint(a, c)") == ("print", "c", "b", "a")


def test_chained_assignment() -> None:
    assert names("a = b = c") == CellNames(reads=("c",), binds=("a", "b"), mutated=())


def test_name_bound_before_it_is_read_is_not_a_read() -> None:
    assert names("x = 1\ny = x * 2") == CellNames(reads=(), binds=("x", "y"), mutated=())


def test_name_read_before_it_is_bound_is_a_read() -> None:
    assert names("y = x\nx = 1") == CellNames(reads=("x",), binds=("y", "x"), mutated=())


def test_self_referencing_assignment_reads_first() -> None:
    assert names("x = x + 1") == CellNames(reads=("x",), binds=("x",), mutated=())


def test_augmented_assignment_of_existing_name_reads_and_binds() -> None:
    assert names("total += step") == CellNames(reads=("step", "total"), binds=("total",),
                                               mutated=())


def test_augmented_assignment_after_binding_is_not_a_read() -> None:
    assert names("total = 0\ntotal += 1") == CellNames(reads=(), binds=("total",), mutated=())


def test_annotated_assignment_binds() -> None:
    assert binds("n: int = size") == ("n",)
    assert reads("n: int = size") == ("size",)
    assert names("n: int") == CellNames(reads=(), binds=(), mutated=())


def test_tuple_and_list_unpacking() -> None:
    assert names("a, (b, c) = pair\n[d, e] = other") == CellNames(
        reads=("pair", "other"), binds=("a", "b", "c", "d", "e"), mutated=())


def test_starred_unpacking() -> None:
    assert names("first, *rest = items") == CellNames(reads=("items",), binds=("first", "rest"),
                                                      mutated=())
    assert binds("*init, last = items") == ("init", "last")


def test_mixed_unpacking_with_subscript_target() -> None:
    assert names("x, d['k'] = pair") == CellNames(reads=("pair", "d"), binds=("x",),
                                                  mutated=("d",))


def test_for_loop_target_and_body() -> None:
    src = """
        for i, (j, *k) in enumerate(items):
            total += j
        else:
            done = True
        """
    assert names(src) == CellNames(reads=("enumerate", "items", "total"),
                                   binds=("i", "j", "k", "total", "done"), mutated=())


def test_for_loop_variable_used_after_the_loop_is_not_a_read() -> None:
    assert reads("for row in rows:\n    pass\nprint(row)") == ("rows", "print")


def test_while_and_if_both_branches_count() -> None:
    src = """
        if flag:
            a = 1
        else:
            b = c
        while a < limit:
            a += 1
        """
    assert names(src) == CellNames(reads=("flag", "c", "limit"), binds=("a", "b"), mutated=())


def test_with_targets() -> None:
    src = """
        with open(path) as fh, lock as (x, y):
            text = fh.read()
        """
    assert names(src) == CellNames(reads=("open", "path", "lock"),
                                   binds=("fh", "x", "y", "text"), mutated=())


def test_with_target_attribute_marks_mutated() -> None:
    assert names("with ctx() as obj.handle:\n    pass") == CellNames(
        reads=("ctx", "obj"), binds=(), mutated=("obj",))


def test_except_target() -> None:
    src = """
        try:
            risky()
        except (ValueError, KeyError) as err:
            log(err)
        finally:
            cleanup()
        """
    assert names(src) == CellNames(reads=("risky", "ValueError", "KeyError", "log", "cleanup"),
                                   binds=("err",), mutated=())


def test_try_star() -> None:
    src = """
        try:
            run()
        except* OSError as group:
            handle(group)
        """
    assert names(src) == CellNames(reads=("run", "OSError", "handle"), binds=("group",),
                                   mutated=())


def test_imports() -> None:
    src = """
        import os
        import a.b.c
        import a.b as c
        from pkg import x as y, z
        from . import rel
        from star import *
        """
    assert names(src) == CellNames(reads=(), binds=("os", "a", "c", "y", "z", "rel"),
                                   mutated=())


def test_import_binds_before_use() -> None:
    assert reads("import numpy as np\narr = np.zeros(3)") == ()


def test_walrus_at_module_level() -> None:
    assert names("if (n := len(data)) > 10:\n    big = n") == CellNames(
        reads=("len", "data"), binds=("n", "big"), mutated=())
    assert names("i = 0\nwhile (i := i + 1) < n:\n    pass") == CellNames(
        reads=("n",), binds=("i",), mutated=())


def test_global_and_nonlocal_at_module_level_are_ignored() -> None:
    assert names("global g\ng = 1") == CellNames(reads=(), binds=("g",), mutated=())


# -- functions and lambdas ----------------------------------------------------------------


def test_function_params_and_locals_are_not_reads_globals_are() -> None:
    src = """
        def f(a, /, b, *args, c, **kw):
            loc = a + b + c + len(args) + len(kw) + glob
            return loc
        """
    assert names(src) == CellNames(reads=("len", "glob"), binds=("f",), mutated=())


def test_defaults_decorators_and_annotations_are_evaluated() -> None:
    src = """
        @register(name)
        def f(a: A, b=dflt, *args: V, c: C = kw, **kw_: K) -> R:
            return a
        """
    r = reads(src)
    assert set(r) == {"register", "name", "A", "dflt", "V", "C", "kw", "K", "R"}
    assert binds(src) == ("f",)


def test_function_local_shadowing_a_global_is_not_a_read() -> None:
    src = """
        def f():
            x = 1
            return x
        """
    assert reads(src) == ()


def test_function_reading_a_name_the_cell_bound_earlier() -> None:
    assert reads("data = load()\ndef f():\n    return data") == ("load",)


def test_recursive_function_does_not_read_itself() -> None:
    assert reads("def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)") == ()


def test_function_local_imports_and_handlers_are_locals() -> None:
    src = """
        def f():
            import json as js
            for i in range(3):
                pass
            with ctx() as c:
                pass
            try:
                pass
            except E as e:
                return e, js, i, c
        """
    assert names(src) == CellNames(reads=("range", "ctx", "E"), binds=("f",), mutated=())


def test_function_body_assignments_do_not_bind_module_names() -> None:
    src = """
        def f():
            a = 1
            obj = make()
            obj.attr = 2
            return a
        """
    assert names(src) == CellNames(reads=("make",), binds=("f",), mutated=())


def test_global_inside_function_is_a_read_not_a_local() -> None:
    src = """
        def bump():
            global counter
            counter += 1
        """
    assert names(src) == CellNames(reads=("counter",), binds=("bump",), mutated=())


def test_function_assigning_a_global_does_not_bind_at_definition() -> None:
    src = """
        def reset():
            global state
            state = None
        """
    assert names(src) == CellNames(reads=(), binds=("reset",), mutated=())


def test_nested_functions_with_nonlocal() -> None:
    src = """
        def outer(step):
            n = 0
            def inner():
                nonlocal n
                n += step
                return n + g
            return inner
        """
    assert names(src) == CellNames(reads=("g",), binds=("outer",), mutated=())


def test_nested_function_defaults_see_enclosing_locals() -> None:
    src = """
        def outer():
            k = 3
            def inner(x=k, y=glob):
                return x + y
            return inner
        """
    assert reads(src) == ("glob",)


def test_global_in_nested_function() -> None:
    src = """
        def outer():
            total = 0
            def inner():
                global total
                return total
            return inner
        """
    # inner's `total` is the module's, not outer's local
    assert reads(src) == ("total",)


def test_mutation_of_a_global_inside_a_function() -> None:
    src = """
        def train():
            model.fit(X, y)
            cache["k"] = 1
        """
    assert names(src) == CellNames(reads=("model", "X", "y", "cache"), binds=("train",),
                                   mutated=("model", "cache"))


def test_mutation_of_a_local_inside_a_function_is_not_a_mutation() -> None:
    src = """
        def train(model, d):
            model.fit(X)
            d["k"] = 1
            m = make()
            m.fit(X)
        """
    assert names(src) == CellNames(reads=("X", "make"), binds=("train",), mutated=())


def test_async_function() -> None:
    src = """
        async def fetch(url):
            async with session.get(url) as resp:
                async for chunk in resp.content:
                    await sink(chunk)
        """
    assert names(src) == CellNames(reads=("session", "sink"), binds=("fetch",), mutated=())


def test_lambda() -> None:
    assert names("f = lambda q, *a, r=default, **k: q + r + outer") == CellNames(
        reads=("default", "outer"), binds=("f",), mutated=())


def test_lambda_walrus_binds_inside_the_lambda() -> None:
    assert names("f = lambda: (w := 1)") == CellNames(reads=(), binds=("f",), mutated=())


# -- comprehensions -----------------------------------------------------------------------


def test_comprehension_loop_variables_are_not_reads_or_binds() -> None:
    assert names("squares = [x * x for x in values if x > lo]") == CellNames(
        reads=("values", "lo"), binds=("squares",), mutated=())


def test_comprehension_variable_does_not_hide_a_later_global_read() -> None:
    assert reads("ys = [x for x in xs]\nprint(x)") == ("xs", "print", "x")


def test_comprehension_first_iterable_is_read_in_the_enclosing_scope() -> None:
    assert reads("ys = [x for x in x]") == ("x",)
    assert reads("def f(x):\n    return [x for x in x]") == ()


def test_nested_comprehensions_and_generators() -> None:
    assert reads("flat = [a for b in c for a in b]") == ("c",)
    assert reads("m = [[a for a in row] for row in grid]") == ("grid",)
    assert names("gen = (x for x in range(n) if x % m)") == CellNames(
        reads=("range", "n", "m"), binds=("gen",), mutated=())


def test_dict_and_set_comprehensions() -> None:
    assert names("d = {k: v for k, v in src.items() if k not in skip}") == CellNames(
        reads=("src", "skip"), binds=("d",), mutated=())
    # the first iterable is evaluated before the element expression
    assert names("s = {f(v) for v in vals}") == CellNames(reads=("vals", "f"), binds=("s",),
                                                          mutated=())


def test_walrus_in_comprehension_binds_outside() -> None:
    src = """
        hits = [y for x in data if (y := f(x)) is not None]
        print(y)
        """
    # y is bound while the value is computed, before `hits` is
    assert names(src) == CellNames(reads=("data", "f", "print"), binds=("y", "hits"),
                                   mutated=())


def test_walrus_in_nested_comprehension_binds_outside() -> None:
    assert binds("r = [[(last := v) for v in row] for row in grid]") == ("last", "r")


def test_walrus_in_comprehension_inside_function_stays_local() -> None:
    src = """
        def g():
            [z := 1 for _ in w]
            return z
        """
    assert names(src) == CellNames(reads=("w",), binds=("g",), mutated=())


# -- classes ------------------------------------------------------------------------------


def test_class_body() -> None:
    src = """
        @dataclass
        class Config(Base, metaclass=Meta):
            size: int = default_size
            scaled = size * factor
        """
    assert names(src) == CellNames(
        reads=("dataclass", "Base", "Meta", "default_size", "factor"), binds=("Config",),
        mutated=())


def test_class_attributes_are_not_visible_in_methods() -> None:
    src = """
        class A:
            x = 1
            def f(self, y=x):
                return x + y
        """
    # `y=x` is evaluated in the class body (its x); `return x` reads the global x
    assert names(src) == CellNames(reads=("x",), binds=("A",), mutated=())


def test_class_attributes_are_not_visible_in_comprehensions() -> None:
    src = """
        class A:
            x = 1
            items = range(3)
            ys = [i + x for i in items]
        """
    # the first iterable is evaluated in the class body; `x` inside is the global one
    assert names(src) == CellNames(reads=("range", "x"), binds=("A",), mutated=())


def test_class_attribute_used_in_the_class_body_is_not_a_read() -> None:
    assert reads("class A:\n    x = 1\n    y = x + 1") == ()


def test_class_inside_function_sees_function_locals() -> None:
    src = """
        def make():
            base = 1
            class C:
                val = base + other
            return C
        """
    assert reads(src) == ("other",)


def test_method_mutating_self_is_not_a_mutation() -> None:
    src = """
        class Est:
            def fit(self, X):
                self.coef_ = X
                return self
        """
    assert names(src) == CellNames(reads=(), binds=("Est",), mutated=())


# -- match ----------------------------------------------------------------------------------


def test_match_statement() -> None:
    src = """
        match command:
            case Point(x=px, y=0) if px > limit:
                out = px
            case [first, *rest]:
                out = rest
            case {"k": v, **others}:
                out = others
            case Color.RED as c:
                out = c
            case str() | bytes() as raw:
                out = raw
            case _:
                out = fallback
        """
    n = names(src)
    assert n.reads == ("command", "Point", "limit", "Color", "str", "bytes", "fallback")
    assert n.binds == ("px", "out", "first", "rest", "v", "others", "c", "raw")
    assert n.mutated == ()


def test_match_capture_is_a_local_in_functions() -> None:
    src = """
        def f(cmd):
            match cmd:
                case [a, *b]:
                    return a, b
                case {**rest}:
                    return rest
                case q:
                    return q
        """
    assert names(src) == CellNames(reads=(), binds=("f",), mutated=())


# -- mutation -------------------------------------------------------------------------------


def test_subscript_and_attribute_assignment_mark_the_base_mutated() -> None:
    src = """
        df["c"] = 2
        obj.attr = 1
        df2.loc[mask, "a"] = 0
        deep.a.b[0].c = 3
        """
    n = names(src)
    assert n.mutated == ("df", "obj", "df2", "deep")
    assert n.binds == ()
    assert n.reads == ("df", "obj", "df2", "mask", "deep")


def test_augmented_subscript_assignment_is_a_mutation() -> None:
    assert names("counts['a'] += 1") == CellNames(reads=("counts",), binds=(),
                                                   mutated=("counts",))


def test_del_marks_mutated() -> None:
    src = """
        del cache["k"]
        del obj.attr
        del a[0], b.c
        del (d[1], [e.f])
        """
    assert names(src) == CellNames(reads=("cache", "obj", "a", "b", "d", "e"), binds=(),
                                   mutated=("cache", "obj", "a", "b", "d", "e"))


def test_del_of_a_plain_name_is_not_a_mutation() -> None:
    assert names("del tmp") == CellNames(reads=(), binds=(), mutated=())


def test_mutating_a_name_bound_in_the_cell_is_not_a_read() -> None:
    assert names("df = load()\ndf['x'] = 1") == CellNames(reads=("load",), binds=("df",),
                                                          mutated=("df",))


@pytest.mark.parametrize("method", sorted(FITTING_METHODS))
def test_fitting_methods_mark_mutated(method: str) -> None:
    assert names(f"out = est.{method}(X, y)") == CellNames(
        reads=("est", "X", "y"), binds=("out",), mutated=("est",))


def test_fit_through_attributes_and_subscripts() -> None:
    assert mutated("pipe.steps[0][1].partial_fit(X)") == ("pipe",)
    assert mutated("models['a'].fit(X)") == ("models",)


def test_fit_on_a_fresh_object_mutates_nothing() -> None:
    assert names("m = Model().fit(X)") == CellNames(reads=("Model", "X"), binds=("m",),
                                                    mutated=())


def test_other_method_calls_do_not_mark_mutated() -> None:
    assert names("p = model.predict(X)\nq = model.fit_intercept") == CellNames(
        reads=("model", "X"), binds=("p", "q"), mutated=())


def test_inplace_true_marks_mutated() -> None:
    src = """
        df.dropna(inplace=True)
        other.fillna(0, inplace=True)
        kept.dropna(inplace=False)
        maybe.dropna(inplace=flag)
        """
    n = names(src)
    assert n.mutated == ("df", "other")
    assert n.reads == ("df", "other", "kept", "maybe", "flag")


def test_nested_calls_are_visited() -> None:
    assert mutated("print(model.fit(X))\nlog([df.reset_index(inplace=True)])") == (
        "model", "df")


def test_mutated_and_bound_in_the_same_cell() -> None:
    src = """
        model.fit(X, y)
        score = model.score(X, y)
        model = other
        """
    assert names(src) == CellNames(reads=("model", "X", "y", "other"),
                                   binds=("score", "model"), mutated=("model",))
