"""The numpy generator's common-subexpression table forgets exactly the expressions that
read or are bound to a name written in place (``CodeGen.mutated``), found through its
index of readers instead of a scan of the whole table, and ``restore`` undoes it."""
import numpy as np

from pyautodiff.backend.numpy_codegen.expressions import Expr
from pyautodiff.backend.numpy_codegen.generator import CodeGen


def _scan(cse, name):
    """What a scan of the whole table keeps after ``name`` is written."""
    return {k: v for k, v in cse.items() if v[0].text != name and name not in v[1]}


def test_mutated_forgets_exactly_the_readers_of_a_name_and_restore_undoes_it():
    gen = CodeGen("error")
    rng = np.random.default_rng(0)
    names = [f"v{i}" for i in range(6)]
    for i in range(60):
        reads = {str(n) for n in rng.choice(names, size=rng.integers(1, 3), replace=False)}
        gen.bind(Expr(f"f{i}({', '.join(sorted(reads))})", names=reads))
    mark = gen.checkpoint()
    before = dict(gen.cse)
    for name in ["v1", "t3", "v4", "v1", "nothing"]:  # t3: a name bound by bind (a result)
        expected = _scan(gen.cse, name)
        gen.mutated(name)
        assert gen.cse == expected
        gen.bind(Expr(f"g({name})", names={name}))  # a new reader of the written name
    assert len(gen.cse) < len(before)
    gen.restore(mark)
    assert gen.cse == before
    # restore indexes what it puts back: the restored readers of v1 are forgotten again
    for name in ["v1", "v2"]:
        expected = _scan(gen.cse, name)
        gen.mutated(name)
        assert gen.cse == expected
