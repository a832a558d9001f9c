"""CEL expressions as Envoy's matchers take them: a parsed syntax tree, built node by node.

Envoy 1.40's CEL matcher refuses an expression given as text
(`cel_expr_string`: "CEL expression not set"); it wants the tree a CEL
parser would produce. The few shapes Breakwater needs are built here, each
node with its own id as the parser would number them.
"""

from __future__ import annotations

from cel.expr import syntax_pb2

_OPERATORS = {"==": "_==_", ">=": "_>=_", "/": "_/_", "%": "_%_"}


class CelBuilder:
    """Builds one expression; ids are unique within it."""

    def __init__(self) -> None:
        self._next_id = 0

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _call(self, function: str, *args: syntax_pb2.Expr) -> syntax_pb2.Expr:
        return syntax_pb2.Expr(
            id=self._id(), call_expr=syntax_pb2.Expr.Call(function=function, args=list(args))
        )

    def integer(self, value: int) -> syntax_pb2.Expr:
        return syntax_pb2.Expr(id=self._id(), const_expr=syntax_pb2.Constant(int64_value=value))

    def string(self, value: str) -> syntax_pb2.Expr:
        return syntax_pb2.Expr(id=self._id(), const_expr=syntax_pb2.Constant(string_value=value))

    def response(self, attribute: str) -> syntax_pb2.Expr:
        """`response.<attribute>`, one of Envoy's response attributes (`code`, `flags`, ...)."""
        root = syntax_pb2.Expr(id=self._id(), ident_expr=syntax_pb2.Expr.Ident(name="response"))
        return syntax_pb2.Expr(
            id=self._id(), select_expr=syntax_pb2.Expr.Select(operand=root, field=attribute)
        )

    def compare(
        self, operator: str, left: syntax_pb2.Expr, right: syntax_pb2.Expr
    ) -> syntax_pb2.Expr:
        return self._call(_OPERATORS[operator], left, right)

    def any_of(self, *terms: syntax_pb2.Expr) -> syntax_pb2.Expr:
        return self._join("_||_", terms)

    def all_of(self, *terms: syntax_pb2.Expr) -> syntax_pb2.Expr:
        return self._join("_&&_", terms)

    def _join(self, function: str, terms: tuple[syntax_pb2.Expr, ...]) -> syntax_pb2.Expr:
        if not terms:
            raise ValueError("an empty condition means nothing; give at least one term")
        joined = terms[0]
        for term in terms[1:]:
            joined = self._call(function, joined, term)
        return joined

    def response_flag(self, bit: int) -> syntax_pb2.Expr:
        """Whether Envoy set one response flag: CEL has no bit operators, so `flags / 2^bit % 2`."""
        shifted = self._call(_OPERATORS["/"], self.response("flags"), self.integer(1 << bit))
        return self.compare(
            "==", self._call(_OPERATORS["%"], shifted, self.integer(2)), self.integer(1)
        )

    def parsed(self, expression: syntax_pb2.Expr) -> syntax_pb2.ParsedExpr:
        return syntax_pb2.ParsedExpr(expr=expression)
