"""``%register``: versions, aliases and their history (parse, call the API, display)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from nbmlops import api
from nbmlops._types import ModelVersion
from nbmlops.commands import approvals as said
from nbmlops.errors import NbmlopsError
from nbmlops.formatting import format_number
from nbmlops.magics import _display, _parsing, _tables


class RegisteredVersion(ModelVersion):
    """The :class:`ModelVersion` ``%register`` made (``v = %register ...``; ``v.version``),
    shown as the line saying what was registered, with its model card when it has one."""

    __slots__ = ()

    @classmethod
    def of(cls, version: ModelVersion) -> RegisteredVersion:
        return cls(**{name: getattr(version, name) for name in version.__dataclass_fields__})

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)

    def __eq__(self, other: object) -> bool:  # equal to the same version, either class
        if not isinstance(other, ModelVersion):
            return NotImplemented
        return self._fields() == RegisteredVersion._fields(other)  # type: ignore[arg-type]

    __hash__ = ModelVersion.__hash__

    def summary(self) -> str:
        source = f" from run {self.run_id[:8]}" if self.run_id else ""
        extras = [name.split(".")[0] for name in ("card.html", "profile.json", "model.onnx")
                  if name in self.files]
        return (f"registered {self}{source} ({self.format}"
                + (", signature" if self.signature else "")
                + "".join(f", {e}" for e in extras) + ")")

    def _card_html(self) -> str | None:
        return api.model_card_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        text = self.summary()
        if "card.html" in self.files:
            text += "\nmodel card: " + ", ".join(f"{k}={format_number(v)}"
                                                 for k, v in self.metrics.items())
        p.text(text)

    def _repr_html_(self) -> str:
        import html

        card = self._card_html()
        return f"<pre>{html.escape(self.summary())}</pre>" + (card or "")


@magics_class
class RegisterMagics(Magics):
    def _value(self, name: str, what: str) -> Any:
        ns = self.shell.user_ns  # type: ignore[union-attr]
        if name not in ns:
            raise UsageError(f"%register: {what} {name!r} is not defined in the notebook")
        return ns[name]

    @magic_arguments()
    @argument("model", nargs="?", help="the variable holding the model to register")
    @argument("--name", help="the registered model's name (versions count up under it)")
    @argument("--run", metavar="RUN_ID", help="register this run's model artifact instead")
    @argument("--artifact", default="model", help="with --run: the artifact's name")
    @argument("--alias", help="point this alias (e.g. staging) at the new version")
    @argument("--description", help="what this model is")
    @argument("--reason", help="why (recorded in the audit log)")
    @argument("--data", metavar="VAR", help="the training frame (signature, reference "
              "profile and sample for drift); found automatically when the model's tracked "
              "run read one that is still in the notebook")
    @argument("--evaluate", nargs=2, metavar=("X_TEST", "Y_TEST"),
              help="held-out data for the model card (metrics, explanations, fairness)")
    @argument("--sensitive", metavar="COLUMN", help="with --evaluate: fairness per group of "
              "this column of X_TEST")
    @argument("--require", action="append", default=[], metavar="GATE",
              help='a gate such as "accuracy>=0.8" (repeatable); a failed gate refuses')
    @argument("--onnx", action="store_true", help="also export the model to ONNX")
    @argument("--format", default="skops", metavar="FORMAT", help="the model file's format: "
              "skops (default), pickle (with --trusted), or one a plugin adds")
    @argument("--trusted", action="store_true", help="allow pickles (they run code on load)")
    @argument("--promote", nargs=3, metavar=("NAME", "VERSION", "ALIAS"),
              help="point NAME@ALIAS at VERSION")
    @argument("--rollback", metavar="NAME@ALIAS",
              help="point the alias back at the version it pointed at before")
    @argument("--protect", nargs=2, metavar=("NAME", "ALIAS"),
              help="NAME@ALIAS then moves only through approved requests (with "
              "--approvals, --require, --role)")
    @argument("--approvals", type=int, default=1, metavar="N",
              help="with --protect: approvals a move needs, each by someone other than the "
              "requester (default 1)")
    @argument("--role", choices=("reader", "writer", "approver", "admin"),
              help="with --protect: the role an approver needs (enforced by PostgreSQL in "
              "team mode; recorded only on SQLite)")
    @argument("--unprotect", nargs=2, metavar=("NAME", "ALIAS"),
              help="let NAME@ALIAS move directly again")
    @argument("--approve", nargs=2, metavar=("NAME", "ALIAS"),
              help="approve the open request to move NAME@ALIAS")
    @argument("--reject", nargs=2, metavar=("NAME", "ALIAS"),
              help="reject the open request to move NAME@ALIAS")
    @argument("--request", type=int, metavar="N",
              help="with --approve/--reject: which request, when several are open")
    @argument("--requests", nargs="?", const="", metavar="NAME",
              help="the open approval requests (of NAME)")
    @argument("--list", nargs="?", const="", metavar="NAME",
              help="registered models, or NAME's versions")
    @argument("--history", metavar="NAME[@ALIAS]", help="who moved what, when and why")
    @no_var_expand
    @line_magic
    def register(self, line: str) -> Any:
        """Register a model version, move aliases, and show the registry.

        Examples::

            %register model --name churn --alias staging --evaluate X_test y_test
            %register --run 3f2a9c1e --name churn --trusted
            %register --promote churn 3 production --require "accuracy>=0.8"
            %register --rollback churn@production --reason "latency regression"
            %register --list churn
            %register --history churn@production
            %register --protect churn production --approvals 1 --require "accuracy>=0.8"
            %register --approve churn production
            %register --requests churn

        Every change is an audit event; nothing is overwritten. Registering returns the
        new ModelVersion (`v = %register model --name churn`, then `v.version`), shown as
        one line (and the model card) whether or not it is assigned. Load a version with
        nbmlops.load_model("churn@production").
        """
        args = _parsing.parse(self.register, line)
        modes = [m for m in ("promote", "rollback", "history", "protect", "unprotect",
                             "approve", "reject") if getattr(args, m)]
        modes += [m for m in ("list", "requests") if getattr(args, m) is not None]
        if len(modes) > 1:
            raise UsageError(f"%register: use one of --{', --'.join(modes)} at a time")
        try:
            if args.promote:
                return self._promote(args)
            if args.rollback:
                print(said.rollback_line(args.rollback,
                                         api.rollback(args.rollback, reason=args.reason)))
                return None
            if args.protect:
                print(said.protection_line(api.protect_alias(
                    *args.protect, approvals=args.approvals, require=args.require,
                    role=args.role)))
                return None
            if args.unprotect:
                api.unprotect_alias(*args.unprotect)
                print(f"{'@'.join(args.unprotect)} is no longer protected: it moves directly")
                return None
            if args.approve or args.reject:
                decide = api.approve if args.approve else api.reject
                request = decide(*(args.approve or args.reject), request=args.request,
                                 reason=args.reason)
                print(said.decision_line(request))
                return None
            if args.requests is not None:
                return said.requests_table(api.approval_requests(args.requests or None))
            if args.list is not None:
                if args.list:
                    return _tables.versions_table(api.models(args.list))
                return _tables.models_table(api.models())
            if args.history:
                return _tables.history_table(api.model_history(args.history))
            return self._register(args)
        except (NbmlopsError, ValueError) as exc:
            raise UsageError(f"%register: {exc}") from None

    def _promote(self, args: Any) -> None:
        name, version, alias = args.promote
        if not version.isdigit():
            raise UsageError(f"%register --promote: VERSION must be a number, not {version!r}")
        result = api.promote(name, int(version), alias, reason=args.reason,
                             require=args.require)
        print(said.promote_line(name, alias, int(version), result))

    def _register(self, args: Any) -> Any:
        if not args.name:
            raise UsageError("%register: give the model a --name (e.g. --name churn)")
        if (args.model is None) == (args.run is None):
            raise UsageError("%register: give a model variable, or --run RUN_ID (not both)")
        if args.sensitive and not args.evaluate:
            raise UsageError("%register: --sensitive goes with --evaluate X_TEST Y_TEST")
        model = self._value(args.model, "model") if args.model is not None else None
        data = self._value(args.data, "--data") if args.data else (
            api.training_data(model, self.shell.user_ns)  # type: ignore[union-attr]
            if model is not None else None)
        evaluation = None
        if args.evaluate:
            evaluation = (self._value(args.evaluate[0], "X_TEST"),
                          self._value(args.evaluate[1], "Y_TEST"))
        version = api.register(
            model, name=args.name, run=args.run, artifact=args.artifact, alias=args.alias,
            description=args.description, reason=args.reason, data=data, evaluate=evaluation,
            sensitive=args.sensitive, require=args.require, onnx=args.onnx,
            format=args.format, trusted=args.trusted)
        if args.alias and args.alias not in version.aliases:  # a protected alias
            for request in api.approval_requests(args.name, alias=args.alias):
                if request.version == version.version:
                    print(said.opened_line(request))
        # shown once: as the cell's Out[] when IPython shows it, else here (v = %register)
        return _display.shown(self.shell, "register", RegisteredVersion.of(version))
