"""The router's application service: embed, match, plan, run the cascade, keep the trace.

The router Lambda (and through it the local stack) is a thin adapter over ``RouterService``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from switchboard.domain.catalog import ModelEntry
from switchboard.domain.dial import DEFAULT_PROFILE, Dial
from switchboard.domain.judging import JudgePolicy
from switchboard.domain.planner import (
    NoToolModel,
    PlannerConfig,
    UnknownProfile,
    build_dial_plan,
    build_plan,
)
from switchboard.domain.requests import ChatRequest
from switchboard.domain.state import CascadeState, Plan
from switchboard.domain.taxonomy import CentroidIndex, Match, TaxonomyMismatch, is_familiar, routing_text
from switchboard.ports import (
    ApiKey,
    CatalogSource,
    Encoder,
    LearnedRouter,
    Orchestrator,
    PolicySource,
    ProviderSource,
    TaxonomySource,
    Trace,
    TraceStore,
)
from switchboard.service.api import (
    KEEP_ALIVE,
    ChatCompletionRequest,
    FeedbackRequest,
    SseWriter,
    chat_completion_response,
)
from switchboard.service.errors import (
    ApiError,
    BadRequest,
    CascadeFailed,
    CascadeTimedOut,
    NotFound,
    NotReady,
    PromptTooLarge,
)
from switchboard.service.keys import KeyService, Reservation
from switchboard.service.traces import now_iso, trace_of

log = logging.getLogger(__name__)

# After its deadline a job's tasks stop and the record task runs; a job still "running" this much later
# ended without a result.
JOB_GRACE_S = 120.0


# Step Functions passes at most 256 KB between states; the state must stay below it with every answer in.
STATE_LIMIT_BYTES = 256 * 1024
STATE_RESERVE_BYTES = 24 * 1024  # verdicts, decisions and the Map's own envelope
TYPICAL_BYTES_PER_TOKEN = 4


def answer_bytes_cap(state: CascadeState) -> int:
    """How many bytes each answer of the plan may take in the state so that the state - request, plan,
    every answer (kept once in ``answers`` and once in its attempt) - fits Step Functions' 256 KB.

    A request whose answers would get less room than ``max_tokens`` typical tokens is refused with 413
    before any model is called; the tasks clip an answer that still exceeds the cap (``plan.answer_bytes_cap``).
    """
    models = {t.model for t in state.plan.tiers} | {j.model for t in state.plan.tiers for j in t.judges if j.model}
    fixed = len(state.model_dump_json().encode("utf-8")) + STATE_RESERVE_BYTES
    cap = (STATE_LIMIT_BYTES - fixed) // (2 * max(1, len(models)))
    needed = state.request.max_tokens * TYPICAL_BYTES_PER_TOKEN
    if cap < needed:
        raise PromptTooLarge(f"the request is too large for the cascade: its prompt and up to {len(models)} answers "
                             f"of max_tokens={state.request.max_tokens} cannot fit the {STATE_LIMIT_BYTES // 1024} KB "
                             "a cascade state can carry; shorten the messages or lower max_tokens")
    return int(cap)


def default_tier_order(catalog: Mapping[str, ModelEntry]) -> list[str]:
    """Cheapest first, by list price of a typical call (1k tokens in, 250 out); test doubles excluded."""
    usable = [e for e in catalog.values() if e.routable]
    return [e.model_id for e in sorted(usable, key=lambda e: (e.price.cost(1000, 250), e.model_id))]


@dataclass
class _Admitted:
    """A request let in: mapped onto the domain (capped at its key's reservation when it has one)."""

    request: ChatRequest
    pinned: str | None
    plan: Plan | None
    reservation: Reservation | None


@dataclass
class _Progress:
    """How far a stream got: whether an event was sent (then a failure is an error event), what it spent."""

    spent: float
    sent: bool = False


class RouterService:
    def __init__(self, *, catalog: CatalogSource, taxonomy: TaxonomySource, orchestrator: Orchestrator,
                 traces: TraceStore, encoder_factory: Callable[[], Encoder], planner: dict | None = None,
                 learned: LearnedRouter | None = None, trace_ttl_days: int = 30, max_prompt_chars: int = 32000,
                 policy: PolicySource | None = None, verifier_sha256: str | None = None,
                 deadline_s: float = 25.0, id_factory: Callable[[], str] = lambda: uuid.uuid4().hex,
                 job_deadline_s: float = 270.0,
                 judge_policy: JudgePolicy | None = None, keys: KeyService | None = None,
                 providers: ProviderSource | None = None, keep_alive_s: float = 5.0) -> None:
        self.catalog = catalog
        # Where the router can call models itself: a single-tier plan's tokens are then streamed as the model
        # produces them (None: every answer comes from the cascade's tier task, streamed once decided).
        self.providers = providers
        self.keep_alive_s = keep_alive_s
        self.taxonomy = taxonomy
        self.orchestrator = orchestrator
        self.traces = traces
        self._encoder_factory = encoder_factory
        self._encoder: Encoder | None = None
        self.planner_overrides = planner or {}
        self.learned = learned
        self.policy = policy
        self.default_judge_policy = judge_policy
        self.keys = keys
        self.verifier_sha256 = verifier_sha256
        self._dial_problem: str | None = None
        self.trace_ttl_days = trace_ttl_days
        self.deadline_s = deadline_s
        self.job_deadline_s = job_deadline_s
        self.max_prompt_chars = max_prompt_chars
        self.new_id = id_factory
        self._index: tuple[int, CentroidIndex] | None = None

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = self._encoder_factory()
        return self._encoder

    def _centroids(self) -> CentroidIndex | None:
        categories = self.taxonomy.categories()
        if not categories:
            return None
        if self._index is None or self._index[0] != id(categories):
            self._index = (id(categories), CentroidIndex(categories))
        return self._index[1]

    def dial(self) -> Dial | None:
        """The published dial, when it can be run as trained: the learned router it was trained with is
        loaded (same models) and the verifier it was calibrated with is deployed (same sha256)."""
        dial = self.policy.dial() if self.policy is not None else None
        if dial is None:
            return None
        problem = None
        if self.learned is None:
            problem = "no learned router is deployed (cdk deploy -c switchboard:routerArtifacts=DIR)"
        elif list(getattr(self.learned, "models", dial.models)) != dial.models:
            problem = "the deployed learned router scores other models than the dial"
        elif dial.verifier_sha256 and dial.verifier_sha256 != self.verifier_sha256:
            problem = "the deployed verifier is not the one the dial was calibrated with (redeploy its run)"
        if problem is not None:
            if problem != self._dial_problem:  # once per cause, not once per request
                log.error("published dial not used: %s; planning without it", problem)
            self._dial_problem = problem
            return None
        return dial

    def judge_policy(self) -> JudgePolicy | None:
        """The published judge policy, else the deployment's default (``SB_JUDGE_POLICY``)."""
        published = self.policy.judge_policy() if self.policy is not None else None
        return published or self.default_judge_policy

    def plan(self, request: ChatRequest, pinned_model: str | None = None) -> Plan:
        catalog = self.catalog.models()
        overrides = {"judge_policy": self.judge_policy(), **self.planner_overrides}
        # A judge policy measured per region of prompts applies as measured where the prompt falls
        embedding = None
        region: str | None = None
        policy = overrides["judge_policy"]
        if isinstance(policy, JudgePolicy) and policy.regions:
            embedding = self.encoder.embed_one(routing_text(request.prompt))
            region = policy.locate(embedding)
            overrides["judge_policy"] = policy.scoped(region)
        config = PlannerConfig(default_tiers=default_tier_order(catalog) or ["none"], **overrides)
        if pinned_model is not None:
            plan = build_plan(request=request, catalog=catalog, config=config, pinned_model=pinned_model)
            return plan.model_copy(update={"judge_region": region})
        dial = self.dial()
        if dial is None and request.profile is not None:
            raise UnknownProfile(f"profile '{request.profile}' needs a trained dial, and none is published "
                                 "(switchboard train, then switchboard publish); use model 'auto'")
        if embedding is None:
            embedding = self.encoder.embed_one(routing_text(request.prompt))
        match: Match | None = None
        category = None
        try:
            index = self._centroids()
            if index is not None:
                match = index.nearest(embedding)
                category = index.get(match.category)
        except TaxonomyMismatch:
            # A misconfigured taxonomy must not fail requests: plan without it, loudly.
            log.exception("taxonomy does not fit the encoder; planning without it")
        if dial is not None and self.learned is not None:
            try:
                point = dial.select(profile=request.profile, quality=request.quality,
                                    max_cost_usd=request.max_cost_usd)
            except KeyError as exc:
                raise UnknownProfile(str(exc.args[0])) from None
            profile = request.profile
            if profile is None and request.quality is None and request.max_cost_usd is None:
                profile = DEFAULT_PROFILE if DEFAULT_PROFILE in dial.profiles else None
            try:
                return build_dial_plan(request=request, catalog=catalog, dial=dial, point=point,
                                       router_p=self.learned.predict(embedding), match=match, profile=profile,
                                       verifier_sha256=self.verifier_sha256)
            except NoToolModel:
                pass  # the dial's cascade has a model that cannot call tools: plan on the tool-capable models
        learned = None
        if self.learned is not None and not is_familiar(match, category, config.similarity_threshold):
            try:
                learned = self.learned.predict(embedding)
            except Exception:  # noqa: BLE001 - an unusable learned router degrades to the default plan
                log.exception("learned router failed; planning without it")
        plan = build_plan(request=request, catalog=catalog, config=config, match=match, category=category,
                          learned=learned)
        return plan.model_copy(update={"judge_region": region})

    def authenticate(self, authorization: str | None) -> ApiKey | None:
        """The caller's API key (``Authorization: Bearer``), or None where keys are off or optional and none
        of ours was sent; raises ``Unauthorized`` for a missing (when required), unknown or revoked key."""
        return self.keys.authenticate(authorization) if self.keys is not None else None

    def chat(self, request: ChatCompletionRequest, authorization: str | None = None) -> CascadeState:
        """An API request, mapped onto the domain and run (``complete``) - on the caller's API key's
        budget when it has one (``service.keys``): the plan's cost bound is reserved from the key with a
        conditional write before anything runs, the request is capped at the reservation, and what it did
        not spend is returned after."""
        admitted = self._admit(request, authorization)
        if admitted.reservation is None:
            return self.complete(admitted.request, pinned_model=admitted.pinned)
        spent = admitted.reservation.amount  # what is not known to be unspent stays spent: the cap errs on holding
        try:
            state = self.complete(admitted.request, pinned_model=admitted.pinned, plan=admitted.plan)
            spent = state.spent_usd
            return state
        except ApiError as exc:
            spent = self._spent_when_failed(exc, spent)
            raise
        finally:
            self._settle(admitted, spent)

    def _admit(self, request: ChatCompletionRequest, authorization: str | None) -> _Admitted:
        """The request mapped onto the domain and, on an API key with a budget, its reservation: the plan's
        cost bound reserved with a conditional write, and the request capped at it (the same plan - routing
        is the caller's, not the key's - whose first tier fits it and whose policy escalates only within it).
        Refusals (401, 402, 404, 413, 429) come before anything is spent."""
        key = self.authenticate(authorization)
        domain = request.to_domain(self.max_prompt_chars)
        pinned = request.pinned_model()
        if key is None or self.keys is None:
            return _Admitted(domain, pinned, None, None)
        domain = domain.model_copy(update={"key_id": key.key_id})
        plan = self.plan(domain, pinned)  # refusals (402, 404, 413) come before any reservation
        worst = sum(t.est_cost_usd for t in plan.tiers)
        if domain.max_cost_usd is not None:
            worst = min(worst, domain.max_cost_usd)
        reservation = self.keys.reserve(key, worst, plan.tiers[0].est_cost_usd)
        capped = domain.model_copy(update={"max_cost_usd": reservation.amount})
        return _Admitted(capped, pinned, plan, reservation)

    def _spent_when_failed(self, exc: ApiError, held: float) -> float:
        """What a failed request spent: its trace's figure when the cascade ran, nothing for a refusal raised
        before any model was called, else what was held."""
        if isinstance(exc, CascadeFailed):
            trace = self.traces.get(exc.trace_id) if exc.trace_id else None
            if trace is not None and trace.state is not None and trace.state.decision is not None:
                return trace.state.spent_usd
            return held
        return 0.0

    def _settle(self, admitted: _Admitted, spent: float) -> None:
        if admitted.reservation is not None and self.keys is not None:
            self.keys.settle(admitted.reservation, spent)

    def chat_stream(self, request: ChatCompletionRequest, authorization: str | None = None,
                    live: bool = True) -> Iterator[str]:
        """``stream=true``: the response as server-sent events. Everything that can refuse the request
        (keys, parsing, planning, the budget) happens here, before the first event; the events come from
        the returned iterator.

        A plan of one tier - a pinned model, or a category served by one model - streams the model's tokens
        as it produces them (where the router can call the model and the provider streams; not with
        ``stop``, ``response_format`` or tools, whose checks need the whole answer): its judges cannot
        change the answer, only say whether it is verified, and that comes in the final chunk. A cascade
        decides first - nothing a judge may still reject is sent - with keep-alive comments while it works.
        A model that fails before its first token falls through to the cascade; after it, the stream ends
        with an error event, never as a silent success. ``live=False`` (a response delivered in one piece,
        as a Lambda proxy integration does): no keep-alives and no token streaming, so every failure is
        still raised before the first event, as a proper HTTP error."""
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        admitted = self._admit(request, authorization)
        try:  # every refusal before the events start, with the reservation returned
            plan = admitted.plan or self.plan(admitted.request, admitted.pinned)
            state = self._new_state(admitted.request, plan)
        except ApiError:
            self._settle(admitted, 0.0)
            raise
        domain = admitted.request
        if (live and self.providers is not None and len(plan.tiers) == 1 and not domain.stop
                and domain.response_format is None and domain.tool_use is None):
            return self._settled(admitted, lambda progress: self._token_events(state, include_usage, progress))
        return self._settled(admitted, lambda progress: self._cascade_events(state, include_usage, live, progress))

    def _settled(self, admitted: _Admitted, events: Callable[[_Progress], Iterator[str]]) -> Iterator[str]:
        """The events of a stream, with what every stream owes whatever happens: a failure before the first
        event is raised (an HTTP error status), after it an error event ends the stream; and the key's
        reservation is settled once - with the spend when known, else what was held (a client that went
        away closes the stream here too)."""
        progress = _Progress(spent=admitted.reservation.amount if admitted.reservation is not None else 0.0)
        try:
            yield from events(progress)
        except Exception as exc:  # noqa: BLE001 - an error status before the first event, an error event after
            if isinstance(exc, ApiError):
                progress.spent = self._spent_when_failed(exc, progress.spent)
            if not progress.sent:
                raise
            yield SseWriter.error(exc)
        finally:
            self._settle(admitted, progress.spent)

    def _token_events(self, state: CascadeState, include_usage: bool, progress: _Progress) -> Iterator[str]:
        from switchboard.service.tasks import solve

        assert self.providers is not None
        spec = state.plan.tiers[0]
        pieces: queue.Queue[tuple[str, object]] = queue.Queue()

        def call() -> None:
            try:
                answer = solve(spec.model, state.request, self.catalog.models(), self.providers,  # type: ignore[arg-type]
                               deadline=state.deadline, cap=state.plan.answer_bytes_cap,
                               on_delta=lambda text: pieces.put(("delta", text)))
                pieces.put(("answer", answer))
            except Exception as exc:  # noqa: BLE001 - reported below (fall through, or an error event)
                pieces.put(("failed", exc))

        threading.Thread(target=call, name=f"stream-{state.request_id[:8]}", daemon=True).start()
        writer = SseWriter(state.request_id, spec.model)
        while True:
            try:
                kind, value = pieces.get(timeout=self.keep_alive_s)
            except queue.Empty:
                if progress.sent:
                    yield KEEP_ALIVE
                continue
            if kind == "delta":
                if not progress.sent:
                    yield writer.head()
                    progress.sent = True
                yield writer.delta(str(value))
                continue
            if kind == "failed" and not progress.sent:  # nothing sent: the cascade answers, as if never streamed
                log.warning("streamed call to %s failed before its first token: %s", spec.model,
                            type(value).__name__)
                final = self.run(state)
                progress.spent = final.spent_usd
                whole = chat_completion_response(final)
                yield writer.head() + writer.body(whole["choices"][0]["message"]) + writer.tail(whole, include_usage)
                return
            if kind == "failed":
                error = f"the model failed mid-stream: {type(value).__name__}"
                self._write_trace(trace_of(state, error=error))
                yield SseWriter.error(CascadeFailed(state.request_id, error + "; see the trace"))
                return
            break
        answer = value
        if not progress.sent:  # a provider that does not stream: the whole answer at once
            yield writer.head()
            if answer.text:  # type: ignore[attr-defined]
                yield writer.delta(answer.text)  # type: ignore[attr-defined]
            progress.sent = True
        final = self.run(state.model_copy(update={"streamed": answer}))
        progress.spent = final.spent_usd
        yield writer.tail(chat_completion_response(final), include_usage)

    def _cascade_events(self, state: CascadeState, include_usage: bool, live: bool,
                        progress: _Progress) -> Iterator[str]:
        done: queue.Queue[tuple[str, object]] = queue.Queue()

        def run() -> None:
            try:
                done.put(("state", self.run(state)))
            except Exception as exc:  # noqa: BLE001 - raised or sent below
                done.put(("failed", exc))

        threading.Thread(target=run, name=f"cascade-{state.request_id[:8]}", daemon=True).start()
        while True:
            try:
                kind, value = done.get(timeout=self.keep_alive_s if live else None)
                break
            except queue.Empty:
                progress.sent = True
                yield KEEP_ALIVE
        if kind == "failed":
            raise value  # type: ignore[misc]
        final: CascadeState = value  # type: ignore[assignment]
        progress.spent = final.spent_usd
        whole = chat_completion_response(final)
        writer = SseWriter(final.request_id, whole["model"])
        progress.sent = True
        yield writer.head() + writer.body(whole["choices"][0]["message"]) + writer.tail(whole, include_usage)

    def submit(self, request: ChatCompletionRequest, authorization: str | None = None) -> Trace:
        """``POST /v1/route`` with ``"async": true``: plan, store a running trace, start the cascade and
        return at once; the record task stores the finished trace, read back by ``job``. The job has its own,
        longer deadline (``job_deadline_s``). A key with a budget is refused: a job is settled by no one
        who could return what it did not spend, so its budget could not be held."""
        key = self.authenticate(authorization)
        if key is not None and key.budget_usd is not None:
            raise BadRequest("jobs cannot run on an API key with a budget yet (nothing would settle the "
                             "reservation); send the request without async, or with a key without budget",
                             param="async")
        domain = request.to_domain(self.max_prompt_chars)
        if key is not None:
            domain = domain.model_copy(update={"key_id": key.key_id})
        plan = self.plan(domain, request.pinned_model())
        state = CascadeState(request_id=self.new_id(), request=domain, plan=plan,
                             deadline=time.time() + self.job_deadline_s)
        state = state.model_copy(update={"plan": plan.model_copy(update={
            "answer_bytes_cap": answer_bytes_cap(state)})})
        running = Trace(trace_id=state.request_id, created_at=now_iso(), status="running", state=state)
        self.traces.put(running, self.trace_ttl_days)
        try:
            self.orchestrator.start(state)
        except Exception as exc:
            log.exception("could not start job %s", state.request_id)
            self._write_trace(trace_of(state, error=f"the job could not start: {type(exc).__name__}"))
            raise CascadeFailed(state.request_id, "the job could not start; see the trace") from exc
        return running

    def job(self, job_id: str) -> tuple[Trace, bool]:
        """A job's trace, and whether it is lost: still running well past its deadline (the execution
        ended without the record task storing a result)."""
        trace = self.traces.get(job_id)
        if trace is None:
            raise NotFound(f"no job with id '{job_id}' (jobs expire with their traces)")
        deadline = trace.state.deadline if trace.state is not None else None
        lost = trace.status == "running" and deadline is not None and time.time() > deadline + JOB_GRACE_S
        return trace, lost

    def complete(self, request: ChatRequest, pinned_model: str | None = None, plan: Plan | None = None
                 ) -> CascadeState:
        """Plan and run the cascade; returns the final state (its trace is written by the record task).

        When the execution fails, a trace of the failure is written here so nothing is lost, and
        ``CascadeFailed`` carries its id to the caller. ``plan``: one already built for this request.
        """
        return self.run(self._new_state(request, plan or self.plan(request, pinned_model)))

    def _new_state(self, request: ChatRequest, plan: Plan) -> CascadeState:
        state = CascadeState(request_id=self.new_id(), request=request, plan=plan,
                             deadline=time.time() + self.deadline_s)
        return state.model_copy(update={"plan": plan.model_copy(update={"answer_bytes_cap": answer_bytes_cap(state)})})

    def run(self, state: CascadeState) -> CascadeState:
        """Run the cascade of a planned state; see ``complete``."""
        outcome = self.orchestrator.run(state)
        if outcome.status != "SUCCEEDED" or outcome.state is None:
            message = f"cascade execution {outcome.status}: {outcome.error}: {outcome.cause}"[:2000]
            if outcome.status != "TIMED_OUT" or self._no_trace_yet(state.request_id):
                # a timed-out wait may end just as the execution's own record step stores the whole trace
                self._write_trace(trace_of(state, error=message))
            if outcome.status == "TIMED_OUT":
                raise CascadeTimedOut(state.request_id, "the cascade did not finish in time; see the trace")
            raise CascadeFailed(state.request_id, f"the cascade execution failed ({outcome.status}); "
                                                  "see the trace")
        final = outcome.state
        if final.record_error is not None:  # the Record task failed: keep the trace anyway
            log.error("record task failed for %s: %s", final.request_id, str(final.record_error)[:300])
            self._write_trace(trace_of(final))
        if final.decision is None or final.decision.answer_tier is None:
            if final.decision is not None and final.decision.reason == "deadline":
                raise CascadeTimedOut(final.request_id, "no model answered before the request's deadline; "
                                                        "see the trace")
            rejected = [a.rejected for a in final.attempts if a.rejected]
            if rejected:
                raise CascadeFailed(final.request_id, f"no model's answer met the response_format ({rejected[-1]}"
                                                      f"{'' if len(rejected) == 1 else f'; {len(rejected)} answers'}"
                                                      "); see the trace")
            raise CascadeFailed(final.request_id, "every tier of the cascade failed; see the trace")
        return final

    def models(self) -> dict:
        """OpenAI's model list: the routing names (``auto`` and, with a published dial, ``auto:<profile>``)
        and every catalogue model a caller may pin."""
        dial = self.dial()
        names = ["auto", *(f"auto:{p}" for p in sorted(dial.profiles))] if dial is not None else ["auto"]
        entries = [{"id": n, "object": "model", "created": 0, "owned_by": "switchboard"} for n in names]
        for model_id, entry in sorted(self.catalog.models().items()):
            if not entry.routable:
                continue
            entries.append({"id": model_id, "object": "model", "created": 0, "owned_by": entry.provider,
                            "switchboard": {"price": entry.price.model_dump(), "context_tokens": entry.context_tokens}})
        return {"object": "list", "data": entries}

    def health(self) -> dict:
        """Readiness: the catalogue can be read and has a model to route to."""
        models = self.catalog.models()
        usable = [m for m, e in models.items() if e.routable]
        if not usable:
            raise NotReady("the catalogue has no model yet: publish one (switchboard publish --catalog)")
        return {"status": "ok", "models": len(usable), "dial": self.dial() is not None,
                "judge_policy": self.judge_policy() is not None}

    def trace(self, trace_id: str) -> Trace:
        trace = self.traces.get(trace_id)
        if trace is None:
            raise NotFound(f"no trace with id '{trace_id}' (traces expire after their TTL)")
        return trace

    def feedback(self, request: FeedbackRequest) -> dict:
        """Append the caller's score (and comment) to a stored trace, for the next training run."""
        entry = {"score": request.score, "comment": request.comment, "at": now_iso()}
        if not self.traces.add_feedback(request.trace_id, entry):
            raise NotFound(f"no trace with id '{request.trace_id}'")
        return {"trace_id": request.trace_id, "stored": True}

    def _no_trace_yet(self, trace_id: str) -> bool:
        try:
            return self.traces.get(trace_id) is None
        except Exception:  # noqa: BLE001 - unreadable store: write the failure trace (it may fail too)
            return True

    def _write_trace(self, trace: Trace) -> None:
        try:
            self.traces.put(trace, self.trace_ttl_days)
        except Exception:  # noqa: BLE001 - the caller already gets an error; the log keeps the rest
            log.exception("could not write failure trace %s", trace.trace_id)
