"""Straight-line builders generated for config shapes that are built again and again.

A config's *shape* is everything compiling it depends on besides its scalar values: the keys
of each mapping in order, the ``_type`` and ``_partial_`` values, container types and lengths,
and which leaves are scalars. Configs of one shape compile to the same tree of steps up to
their literal values, so factorize.py turns a shape it compiles a second time into one
generated Python function, as ``dataclasses`` generates ``__init__``. The function has the
general path's two phases:

1. *check*: read the config along the shape, returning :data:`MISMATCH` at the first
   difference; check each literal value directly where its annotation is a plain type
   (``int``, ``str``, ``Optional[float]``, ``Any``...) and with the pydantic validator the
   general path uses otherwise; check that every ``_type`` still names the same artifact.
   Anything that fails here returns ``MISMATCH`` too, and the caller runs the general path,
   which raises its usual error; so messages and coercions are the general path's own.
2. *build*: call the artifacts leaves first, in the general path's order, and record
   provenance for ``to_config`` against a template of the tree whose literal values are
   :class:`~registry.factorize.steps.Slot` markers, filled from this build's values.

Imports only ``errors``, ``hints``, ``plans``, ``records`` and ``steps``.
"""

from __future__ import annotations

import keyword
import sys
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from registry.errors import ValidationError
from registry.factorize import records
from registry.factorize.hints import ANY_HINT, EVERY_TYPE, Hint
from registry.factorize.plans import ArtifactPlan, shape_validator
from registry.factorize.steps import (
    ATOMIC,
    MappingStep,
    Node,
    SequenceStep,
    Slot,
    Step,
    call_special,
)

__all__ = ["MISMATCH", "ShapeBuilder", "generate"]


class _Mismatch:
    def __repr__(self) -> str:
        return "MISMATCH"


#: What a generated builder returns for a config that is not of its shape (or not valid).
MISMATCH: Any = _Mismatch()


class ShapeBuilder(Protocol):
    """A generated builder: ``builder(config)`` returns the built object or :data:`MISMATCH`."""

    shape: Any

    def __call__(self, config: Mapping[str, Any]) -> Any: ...

    def is_current(self, lookup: _Lookup) -> bool:
        """Return whether every ``_type`` of the shape still names the same artifact."""


class _Lookup(Protocol):
    artifacts: Mapping[str, Any]

    def artifact(self, type_name: str) -> Callable[..., Any]: ...


HoldsNoArtifacts = Callable[[Any, Hint], bool]


def generate(
    lookup: _Lookup,
    type_name: str,
    config: Mapping[str, Any],
    root: Node,
    *,
    resolved: list[tuple[str, ArtifactPlan]],
    holds_no_artifacts: HoldsNoArtifacts,
) -> ShapeBuilder:
    """Return a builder for dicts shaped like ``config``, which compiled to ``root`` after
    resolving the names ``resolved``; ``holds_no_artifacts(value, hint)`` tells whether a
    literal container would stay literal."""
    writer = _Writer(holds_no_artifacts)
    names = {name: plan.artifact for name, plan in resolved}
    root_type = config.get("_type", type_name)
    if root_type != type_name:  # the general path checked that both name the root artifact
        names[root_type] = root.plan.artifact
    built, _ = writer.node("config", config, root)
    source = writer.source(built, names)
    namespace = writer.env
    namespace.update(
        MISMATCH=MISMATCH,
        ValidationError=ValidationError,
        ATOMIC=ATOMIC,
        CACHED=lookup.artifacts,
        RESOLVE=lookup.artifact,
        SPECIAL=call_special,
        **_RECORDING,
    )
    exec(compile(source, f"<registry builder of {type_name!r}>", "exec"), namespace)
    builder: Any = namespace["build"]
    resolved_names = tuple(names.items())
    builder.is_current = lambda lookup: _is_current(lookup, resolved_names)
    builder.__doc__ = source  # what was generated, for anyone debugging it
    return builder  # type: ignore[no-any-return]


def _is_current(lookup: _Lookup, names: tuple[tuple[str, Any], ...]) -> bool:
    try:
        return all(lookup.artifact(name) is artifact for name, artifact in names)
    except ValidationError:
        return False


class _Built:
    """The lines that build one part of the tree, and the expression of its result."""

    __slots__ = ("expression", "lines")

    def __init__(self, lines: list[str], expression: str) -> None:
        self.lines = lines
        self.expression = expression


class _NodeParts:
    """What the values of one ``_type`` mapping turned into while it is written."""

    __slots__ = ("extras", "literals", "nested")

    def __init__(self) -> None:
        self.literals: dict[str, tuple[str, Any]] = {}  # name -> (local variable, first value)
        self.nested: dict[str, tuple[_Built, Any]] = {}  # name -> (build, template)
        self.extras: list[tuple[_Built, Any]] = []  # *args values: (build, template)


class _Writer:
    """Writes the two phases of a builder while walking a config beside its compiled tree.

    ``checks`` collects the first phase; each walk method returns a :class:`_Built` with the
    lines of the second phase for its part, in the order ``Node.build`` builds them.
    """

    def __init__(self, holds_no_artifacts: HoldsNoArtifacts) -> None:
        self.holds_no_artifacts = holds_no_artifacts
        self.checks: list[str] = []
        self.env: dict[str, Any] = {}
        self.slots: list[str] = []  # local variables of the literal values, by slot index
        self.count = 0

    # ------------------------------------------------------------------ names and reads

    def local(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def constant(self, prefix: str, value: Any) -> str:
        name = self.local(prefix)
        self.env[name] = value
        return name

    def check(self, condition: str) -> None:
        self.checks.append(f"if {condition}: return MISMATCH")

    def slot(self, variable: str) -> Slot:
        self.slots.append(variable)
        return Slot(len(self.slots) - 1)

    def items_in_order(self, variable: str, keys: list[Any]) -> tuple[list[str], list[str]]:
        """Read the keys and values of the dict ``variable``, checking its keys in order."""
        self.check(f"{variable}.__class__ is not dict")
        if not keys:
            self.check(variable)
            return [], []
        pairs = [(self.local("k"), self.local("x")) for _ in keys]
        targets = "".join(f"({k}, {x}), " for k, x in pairs)
        self.checks.append(f"{targets}= {variable}.items()")  # a ValueError if the sizes differ
        differs = [f"{k} != {self.literal(key)}" for (k, _), key in zip(pairs, keys, strict=True)]
        self.check(" or ".join(differs))
        return [k for k, _ in pairs], [x for _, x in pairs]

    def items_by_key(self, variable: str, keys: list[str]) -> list[str]:
        """Read the values of the dict ``variable`` whose keys are ``keys`` in any order."""
        self.check(f"{variable}.__class__ is not dict or len({variable}) != {len(keys)}")
        values = [self.local("x") for _ in keys]
        self.checks += [f"{x} = {variable}[{key!r}]" for key, x in zip(keys, values, strict=True)]
        return values  # a KeyError if a key is missing

    def items_of_sequence(self, variable: str, original: list[Any] | tuple[Any, ...]) -> list[str]:
        self.check(f"{variable}.__class__ is not {original.__class__.__name__}")
        if not original:
            self.check(variable)
            return []
        items = [self.local("x") for _ in original]
        self.checks.append(f"{', '.join(items)}, = {variable}")  # a ValueError if sizes differ
        return items

    def literal(self, value: Any) -> str:
        return repr(value) if value.__class__ in (str, int) else self.constant("K", value)

    # ------------------------------------------------------------------ the walk

    def node(self, variable: str, config: Mapping[Any, Any], node: Node) -> tuple[_Built, Node]:
        """Check a ``_type`` (or class-typed) mapping and build its node."""
        plan = node.plan
        keys = list(config)
        compiled = node.nested or {}
        # Key order decides the order nested values are built in, and what **kwargs receives.
        if plan.accepts_extra or sum(key in compiled for key in keys) > 1:
            _, values = self.items_in_order(variable, keys)
        else:
            values = self.items_by_key(variable, keys)
        parts = _NodeParts()
        for key, value, original in zip(keys, values, config.values(), strict=True):
            if key == "_type":
                self.check(self.names_type(value, original))
            elif key == "_partial_":
                self.check(f"{value} is not {original!r}")
            elif key == "_args_" and original is None:
                self.check(f"{value} is not None")  # no positional values, as if not given
            elif key == "_args_":
                self.positional(value, original, node, parts)
            elif key in compiled:
                parts.nested[key] = self.step(
                    value,
                    original,
                    compiled[key],
                    hint=plan.fields.get(key, ANY_HINT),
                    path=_join(node.path, key),
                    owner=plan.label,
                )
            else:
                parts.literals[key] = (value, original)
        template = Node(plan, node.path, node.annotated)
        template.partial, template.check, template.plain = node.partial, node.check, node.plain
        template.values = self.node_literals(node, parts.literals)
        if node.nested is not None:
            template.nested = {name: parts.nested[name][1] for name in compiled}
        if node.extra_args is not None:
            template.extra_args = [extra for _, extra in parts.extras]
        nested = {name: parts.nested[name][0] for name in compiled}
        return self.call(node, template, nested, [built for built, _ in parts.extras]), template

    def names_type(self, variable: str, original: Any) -> str:
        """Return a condition: ``variable`` is not the ``_type`` name ``original``."""
        differs = f"{variable}.__class__ is not str or {variable} != {original!r}"
        if original.__class__ is not str:  # a root may name itself with a str subclass
            return differs
        # Strings written in Python code are interned: then one identity check answers.
        name = self.constant("S", sys.intern(original))
        return f"{variable} is not {name} and ({differs})"

    def positional(
        self, variable: str, original: list[Any] | tuple[Any, ...], node: Node, parts: _NodeParts
    ) -> None:
        """Check ``_args_``: its items are the leading positional parameters, then ``*args``."""
        plan = node.plan
        compiled = node.nested or {}
        items = self.items_of_sequence(variable, original)
        for index, (item, value) in enumerate(zip(items, original, strict=True)):
            path = _join(_join(node.path, "_args_"), index)
            if index < len(plan.positional):
                name = plan.positional[index]
                if name in compiled:
                    hint = plan.fields[name]
                    parts.nested[name] = self.step(
                        item, value, compiled[name], hint=hint, path=path, owner=plan.label
                    )
                else:
                    parts.literals[name] = (item, value)
                continue
            assert node.extra_args is not None
            assert plan.var_args is not None
            extra = node.extra_args[index - len(plan.positional)]
            if isinstance(extra, Step):
                built = self.step(
                    item, value, extra, hint=plan.var_args, path=path, owner=plan.label
                )
            else:
                built = self.verified(item, value, hint=plan.var_args, path=path, owner=plan.label)
            parts.extras.append(built)

    def node_literals(self, node: Node, literals: dict[str, tuple[str, Any]]) -> dict[str, Slot]:
        """Check a node's literal values as ``plans.validate_direct`` does, else with the
        pydantic validator the general path uses; return the node's values as slots."""
        plan = node.plan
        always = False  # some value always goes through pydantic
        direct: list[tuple[str, frozenset[type]]] = []  # scalars whose class may decide alone
        for name, (variable, original) in literals.items():
            classes = plan.direct.get(name, EVERY_TYPE if name not in plan.annotations else None)
            if original.__class__ not in ATOMIC:
                self.check(f"not {self.holds_no_artifacts_call(variable, plan.fields.get(name))}")
                always = always or classes is not EVERY_TYPE
            elif classes is None or classes is EVERY_TYPE:
                self.check(f"{variable}.__class__ not in ATOMIC")
                always = always or classes is None
            else:
                direct.append((variable, classes))
        validator = shape_validator(plan, tuple(node.nested or ()), node.partial)
        if validator is not None and (always or direct):
            valid = self.local("d")
            given = ", ".join(f"{name!r}: {var}" for name, (var, _) in literals.items())
            validate = [f"{valid} = {self.constant('V', validator.validate_python)}({{{given}}})"]
            validate += [f"{var} = {valid}[{name!r}]" for name, (var, _) in literals.items()]
            if always:
                self.checks += [
                    f"if {var}.__class__ not in ATOMIC: return MISMATCH" for var, _ in direct
                ]
                self.checks += validate
            elif len(direct) == 1:
                self.checks += self.direct_check(*direct[0])
                self.checks += [f"    {line}" for line in validate]
            else:
                flag = self.local("slow")
                self.checks.append(f"{flag} = False")
                for variable, classes in direct:
                    self.checks += [*self.direct_check(variable, classes), f"    {flag} = True"]
                self.checks.append(f"if {flag}:")
                self.checks += [f"    {line}" for line in validate]
        order = [name for name in plan.annotations if name in literals]
        order += [name for name in literals if name not in plan.annotations]
        return {name: self.slot(literals[name][0]) for name in order}

    def direct_check(self, variable: str, classes: frozenset[type]) -> list[str]:
        """Lines opening a block that runs when ``variable`` is a scalar of another class."""
        if len(classes) == 1:
            (only,) = classes
            test = f"{variable}.__class__ is not {self.constant('C', only)}"
        else:
            test = f"{variable}.__class__ not in {self.constant('C', classes)}"
        return [f"if {test}:", f"    if {variable}.__class__ not in ATOMIC: return MISMATCH"]

    def holds_no_artifacts_call(self, variable: str, hint: Hint | None) -> str:
        """Return an expression: the literal container ``variable`` holds nothing to build."""
        check = self.constant("PLAIN", self.holds_no_artifacts)
        return f"{check}({variable}, {self.constant('H', hint or ANY_HINT)})"

    def verified(
        self, variable: str, original: Any, *, hint: Hint, path: str, owner: str
    ) -> tuple[_Built, Slot]:
        """Check a literal item of a container that also holds artifacts (or of ``*args``)
        with ``hint.verify``, as the general path does."""
        if original.__class__ in ATOMIC:
            self.check(f"{variable}.__class__ not in ATOMIC")
        else:
            self.check(f"not {self.holds_no_artifacts_call(variable, hint)}")
        verify = self.constant("VERIFY", hint.verify)
        self.checks.append(f"{variable} = {verify}({variable}, {path!r}, {owner!r})")
        return _Built([], variable), self.slot(variable)

    def step(
        self, variable: str, original: Any, compiled: Any, *, hint: Hint, path: str, owner: str
    ) -> tuple[_Built, Any]:
        """Check a value that compiled to the step ``compiled``, and build it."""
        if isinstance(compiled, Node):
            return self.node(variable, original, compiled)
        if isinstance(compiled, SequenceStep):
            return self.sequence(
                variable, original, compiled, hint=hint.item, path=path, owner=owner
            )
        assert isinstance(compiled, MappingStep)
        return self.mapping(variable, original, compiled, hint=hint.value, path=path, owner=owner)

    def sequence(
        self,
        variable: str,
        original: list[Any] | tuple[Any, ...],
        step: SequenceStep,
        *,
        hint: Hint,
        path: str,
        owner: str,
    ) -> tuple[_Built, SequenceStep]:
        parts = []
        items = self.items_of_sequence(variable, original)
        for index, (item, value, compiled) in enumerate(
            zip(items, original, step.items, strict=True)
        ):
            where = _join(path, index)
            if isinstance(compiled, Step):
                parts.append(self.step(item, value, compiled, hint=hint, path=where, owner=owner))
            else:
                parts.append(self.verified(item, value, hint=hint, path=where, owner=owner))
        listing = "".join(f"{built.expression}, " for built, _ in parts)
        if step.kind is list:
            expression = f"[{listing}]"
        elif step.kind is tuple:
            expression = f"({listing})"
        else:
            expression = f"{self.constant('KIND', step.kind)}([{listing}])"
        template = SequenceStep(step.kind, [template for _, template in parts])
        return _Built(_lines_of(built for built, _ in parts), expression), template

    def mapping(
        self,
        variable: str,
        original: Mapping[Any, Any],
        step: MappingStep,
        *,
        hint: Hint,
        path: str,
        owner: str,
    ) -> tuple[_Built, MappingStep]:
        keys = list(original)
        key_variables, values = self.items_in_order(variable, keys)
        parts = []
        for key, item, value in zip(keys, values, original.values(), strict=True):
            compiled = step.items[key]
            where = _join(path, key)
            if isinstance(compiled, Step):
                parts.append(self.step(item, value, compiled, hint=hint, path=where, owner=owner))
            else:
                parts.append(self.verified(item, value, hint=hint, path=where, owner=owner))
        # this config's own keys: equal to the shape's, but 1 and True are equal too
        listing = ", ".join(
            f"{k}: {built.expression}" for k, (built, _) in zip(key_variables, parts, strict=True)
        )
        template = MappingStep(
            {key: template for key, (_, template) in zip(keys, parts, strict=True)}
        )
        return _Built(_lines_of(built for built, _ in parts), f"{{{listing}}}"), template

    # ------------------------------------------------------------------ building

    def call(
        self, node: Node, template: Node, nested: dict[str, _Built], extras: list[_Built]
    ) -> _Built:
        """Build ``node`` after its nested steps, as ``Node.build`` does."""
        lines = _lines_of([*nested.values(), *extras])
        result = self.local("o")
        arguments = [(name, self.slots[slot.index]) for name, slot in template.values.items()]
        arguments += [(name, built.expression) for name, built in nested.items()]
        node_name = self.constant("T", template)
        if node.plain:
            call = f"{self.constant('A', node.plan.artifact)}({_keywords(arguments)})"
            lines += [
                "try:",
                f"    {result} = {call}",
                "except ValidationError:",
                "    raise",
                "except Exception as exc:",
                f"    raise {node_name}.failed(exc) from exc",
                *_record_lines(result, node_name),
            ]
        else:
            given = ", ".join(f"{name!r}: {value}" for name, value in arguments)
            positional = (
                "None"
                if template.extra_args is None
                else "[" + ", ".join(built.expression for built in extras) + "]"
            )
            lines.append(f"{result} = SPECIAL({node_name}, {{{given}}}, {positional}, slots)")
        return _Built(lines, result)

    def source(self, built: _Built, names: dict[str, Any]) -> str:
        current = []  # a hit in lookup.artifacts is what lookup.artifact returns
        for name, artifact in names.items():
            constant = self.constant("A", artifact)
            if ":" in name:
                current.append(f"if RESOLVE({name!r}) is not {constant}: return MISMATCH")
            else:
                current.append(f"if CACHED[{name!r}] is not {constant}: return MISMATCH")
        body = ["def build(config):", "    try:"]
        body += [f"        {line}" for line in [*current, *self.checks]]
        body += ["    except Exception:", "        return MISMATCH"]
        body.append(f"    slots = ({''.join(f'{v}, ' for v in self.slots)})")
        body += [f"    {line}" for line in built.lines]
        body += [f"    {line}" for line in _AFTER_RECORDS]
        body.append(f"    return {built.expression}")
        return "\n".join(body) + "\n"


# A record is one call into the C table where it is built; in Python it is written inline (a
# call frame would cost as much as the record) and swept once per build.
if isinstance(records.TABLE, records.PyRecords):
    _RECORDING: dict[str, Any] = {
        "RECORDS": records.TABLE.entries,
        "WEAKREF": weakref.ref,
        "TABLE": records.TABLE,
    }
    _AFTER_RECORDS = ["if len(RECORDS) >= TABLE.sweep_at:", "    TABLE.sweep_if_due()"]

    def _record_lines(result: str, node_name: str) -> list[str]:
        return [
            "try:",
            f"    RECORDS[id({result})] = (WEAKREF({result}), {node_name}, slots)",
            "except TypeError:",  # ints, dicts...: nothing to attach a record to
            "    pass",
        ]

else:
    _RECORDING = {"REMEMBER": records.TABLE.remember}
    _AFTER_RECORDS = []

    def _record_lines(result: str, node_name: str) -> list[str]:
        return [f"REMEMBER({result}, {node_name}, slots)"]


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _lines_of(parts: Iterable[_Built]) -> list[str]:
    return [line for part in parts for line in part.lines]


def _keywords(arguments: list[tuple[str, str]]) -> str:
    """Keyword arguments in order; names that are not identifiers go in a ``**{}`` tail."""
    written: list[str] = []
    for index, (name, value) in enumerate(arguments):
        if not name.isidentifier() or keyword.iskeyword(name):
            tail = ", ".join(f"{key!r}: {expr}" for key, expr in arguments[index:])
            written.append(f"**{{{tail}}}")
            break
        written.append(f"{name}={value}")
    return ", ".join(written)
