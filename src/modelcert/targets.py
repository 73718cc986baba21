"""Targets: a model address plus the access tier the auditor was granted.

A target is addressed by any Inspect model string, passed through unchanged
(``openai-api/<svc>/<model>``, ``anthropic/...``, ``vllm/...``, ``ollama/...``,
``hf/...``), or by ``local/<path>`` / ``local/zoo:<name>`` for a checkpoint on disk served
by our own provider: a safetensors folder, or a GGUF file (or a folder holding exactly one).

The access tier says what the auditor may observe:

* ``api``: text in, text out;
* ``logprobs``: plus token log-probabilities;
* ``weights``: plus parameters and activations.

An auditor may *downgrade* a target (run a ``weights`` model as ``api``) to show what a
regulator with less access would see; the target then really withholds what its tier
does not grant. Asking for more than the provider can give is an :class:`AccessError`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from modelcert.errors import AccessError, ConfigError, ModelcertError
from modelcert.evidence.chain import digest

Tier = Literal["api", "logprobs", "weights"]
TIERS: tuple[Tier, ...] = ("api", "logprobs", "weights")

#: What each tier lets a check observe; shown by ``modelcert targets show``.
TIER_CAPABILITIES: dict[Tier, tuple[str, ...]] = {
    "api": ("generate text",),
    "logprobs": ("generate text", "token log-probabilities", "top-k alternatives"),
    "weights": (
        "generate text",
        "token log-probabilities",
        "top-k alternatives",
        "loglikelihood of given continuations",
        "hidden states / activations",
        "parameters and file hashes",
    ),
}

# Highest tier each Inspect provider can serve. OpenAI-compatible servers may expose
# logprobs; hosted chat APIs that do not are `api`. Unknown providers default to `api`.
_PROVIDER_MAX_TIER: dict[str, Tier] = {
    "local": "weights",
    "hf": "weights",
    "openai": "logprobs",
    "openai-api": "logprobs",
    "vllm": "logprobs",
    "sglang": "logprobs",
    "together": "logprobs",
    "fireworks": "logprobs",
    "llama-cpp-python": "logprobs",
    "ollama": "logprobs",
    "anthropic": "api",
    "google": "api",
    "mistral": "api",
    "bedrock": "api",
    "grok": "api",
    "groq": "api",
    "azureai": "api",
    "openrouter": "api",
}

_WEIGHT_SUFFIXES_REFUSED = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def tier_rank(tier: str) -> int:
    if tier not in TIERS:
        raise ConfigError(f"unknown access tier {tier!r}; choose one of: {', '.join(TIERS)}")
    return TIERS.index(tier)  # type: ignore[arg-type]


def tier_allows(granted: str, needed: str) -> bool:
    """True if a target at tier ``granted`` can serve a check that needs ``needed``."""
    return tier_rank(granted) >= tier_rank(needed)


def resolve_local_path(spec: str) -> Path:
    """Resolve the part after ``local/``: a folder, a ``.gguf`` file, or ``zoo:<name>``.

    A folder that holds exactly one ``*.gguf`` file and no ``*.safetensors`` resolves to
    that file: the GGUF is self-contained (config, tokenizer and chat template inside), so
    the file is the model, and naming it or its folder gives the same target.
    """
    if spec.startswith("zoo:"):
        from modelcert.organisms import zoo_path

        return zoo_path(spec[4:])
    path = Path(spec).expanduser()
    if not path.exists():
        raise ConfigError(f"checkpoint folder not found (nor a .gguf file): {path}")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ConfigError(f"a checkpoint file must be a .gguf; otherwise give the folder: {path}")
        return path.resolve()
    if not path.is_dir():
        raise ConfigError(f"checkpoint must be a folder with config.json and *.safetensors, or a .gguf: {path}")
    ggufs = sorted(path.glob("*.gguf"))
    if ggufs and not any(path.glob("*.safetensors")):
        if len(ggufs) > 1:
            names = ", ".join(g.name for g in ggufs[:4])
            raise ConfigError(f"{path} holds {len(ggufs)} GGUF files ({names}); name the one to load")
        return ggufs[0].resolve()
    return path.resolve()


def is_gguf(path: Path) -> bool:
    """True for a resolved ``local/`` checkpoint that is a GGUF file."""
    return path.is_file() and path.suffix.lower() == ".gguf"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_manifest(folder: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``folder`` (relative POSIX paths), streamed.

    A single file (a GGUF) gives a one-entry manifest under its own name.
    """
    if folder.is_file():
        return {folder.name: _sha256(folder)}
    manifest: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise ConfigError(f"refusing symbolic link inside checkpoint: {path}")
        if not path.is_file():
            continue
        manifest[path.relative_to(folder).as_posix()] = _sha256(path)
    return manifest


def check_safetensors_only(folder: Path) -> None:
    """Refuse checkpoints whose weights could be pickles; never open them.

    A GGUF file passes here: it holds no code, and the artifact gate validates its header,
    tensor table and chat template before anything loads it.
    """
    if is_gguf(folder):
        return
    refused = sorted(p.name for p in folder.rglob("*") if p.suffix.lower() in _WEIGHT_SUFFIXES_REFUSED)
    if refused:
        raise AccessError(
            f"refusing to load {folder}: pickle-format weight files ({', '.join(refused[:3])}) are not "
            "accepted; convert the checkpoint to safetensors"
        )
    if not any(folder.glob("*.safetensors")):
        raise ConfigError(f"no *.safetensors weights in {folder}")


@dataclass
class Target:
    """A model under test at a granted access tier."""

    model: str
    access: Tier
    max_access: Tier
    path: Path | None = None
    base_url: str | None = None
    generation: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None
    """Torch threads for a local model (None: :func:`modelcert.providers.cores.default_threads`)."""
    _identity: dict[str, Any] | None = field(default=None, repr=False)
    address: str = ""
    """The model address as the user typed it (``local/zoo:clean``); ``model`` is the resolved one."""

    def __post_init__(self) -> None:
        self.address = self.address or self.model

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]

    @property
    def downgraded(self) -> bool:
        return tier_rank(self.access) < tier_rank(self.max_access)

    def allows(self, needed: str) -> bool:
        return tier_allows(self.access, needed)

    def require(self, needed: str, what: str) -> None:
        if not self.allows(needed):
            raise AccessError(f"{what} needs access tier {needed!r}; target is at {self.access!r}")

    def identity(self) -> dict[str, Any]:
        """What was tested: file hashes for checkpoints, address + settings for APIs."""
        if self._identity is None:
            if self.path is not None:
                manifest = file_manifest(self.path)
                self._identity = {
                    "kind": "weights-manifest",
                    "model": self.model,
                    "manifest": manifest,
                    "manifest_digest": digest(manifest),
                    "generation": self.generation,
                    # only GGUF targets carry a format key, so safetensors identities stay as they were
                    **({"format": "gguf"} if is_gguf(self.path) else {}),
                }
            else:
                self._identity = {
                    "kind": "api-endpoint",
                    "provider": self.provider,
                    "model": self.model.split("/", 1)[1] if "/" in self.model else self.model,
                    "base_url": self.base_url,
                    "generation": self.generation,
                }
        return self._identity

    @property
    def identity_digest(self) -> str:
        return digest(self.identity())

    def summary(self) -> dict[str, Any]:
        ident = self.identity()
        return {
            "model": self.address,
            **({"resolved": str(self.path)} if self.path is not None else {}),
            "provider": self.provider,
            "access": self.access,
            "max_access": self.max_access,
            "downgraded": self.downgraded,
            "capabilities": list(TIER_CAPABILITIES[self.access]),
            "withheld": [c for c in TIER_CAPABILITIES[self.max_access] if c not in TIER_CAPABILITIES[self.access]],
            "identity_kind": ident["kind"],
            "identity_digest": self.identity_digest,
            **({"manifest_digest": ident["manifest_digest"], "files": len(ident["manifest"])} if self.path else {}),
            **({"base_url": self.base_url} if self.base_url else {}),
        }

    def preflight(self) -> None:
        """Fail early, as a :class:`ConfigError`, on what would otherwise fail mid-run.

        Run before anything is written to the evidence store, so a bad target leaves no
        empty run behind: the base URL must be an http(s) URL whose host answers, and the
        provider must initialise (credentials such as ``LAB_API_KEY`` present).
        Local checkpoints were already checked by :func:`make_target`.
        """
        if self.provider == "local":
            return
        if self.base_url is not None:
            check_endpoint(self.base_url)
        import contextlib
        import io

        try:
            # Inspect announces its hooks on stdout when the first model is made; keep --json clean
            with contextlib.redirect_stdout(io.StringIO()):
                self.inspect_model()
        except ModelcertError:
            raise
        except Exception as exc:  # Inspect's PrerequisiteError, ValueError, client errors
            raise ConfigError(f"cannot use model {self.address!r}: {_one_line(exc)}") from exc

    def model_args(self) -> dict[str, Any]:
        """Extra Inspect model args: our provider enforces the tier itself and takes a thread count."""
        if self.provider != "local":
            return {}
        return {"access": self.access, **({"threads": self.threads} if self.threads is not None else {})}

    def runtime(self) -> dict[str, Any]:
        """How the model runs here (recorded in each run start, not part of what was tested).

        For a model loaded in this process: its torch thread count and the cores available.
        """
        if self.path is None:
            return {}
        from modelcert.providers.cores import available_cores, resolve_threads

        return {"threads": resolve_threads(self.threads), "cores": available_cores()}

    def inspect_model(self, **config: Any) -> Any:
        """An Inspect ``Model`` for this target (imports Inspect lazily)."""
        from inspect_ai.model import GenerateConfig, get_model

        import modelcert.providers.local  # noqa: F401  (registers local/)

        cfg = {**self.generation, **config}
        if self.provider == "hf" and self.path is not None:  # Inspect's hf provider loads it: set threads first
            from modelcert.providers.cores import apply_threads, resolve_threads

            apply_threads(resolve_threads(self.threads))
        if not self.allows("logprobs"):
            cfg.pop("logprobs", None)
            cfg.pop("top_logprobs", None)
        return get_model(
            self.model, config=GenerateConfig(**cfg), base_url=self.base_url, **self.model_args()
        )


def pin_access_arg(target: Target, factory: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Task arguments with ``access`` pinned to the target's tier, never above it.

    Some checks take an ``access`` argument because a remote provider cannot report its
    own tier. That argument must not become a way round the granted tier: a value above
    ``target.access`` is refused (``-T access=logprobs`` on an ``api`` target would
    otherwise fetch log-probabilities), a lower one is a further downgrade and is kept,
    and a missing one is filled in from the target.

    Args:
        target: The target the check will run against.
        factory: The check's task factory (only one that takes ``access`` is touched).
        args: The task arguments as given (CLI ``-T`` or a policy's ``task_args``).
    """
    import inspect

    if "access" not in inspect.signature(inspect.unwrap(factory)).parameters:
        return args
    given = args.get("access")
    if given is None:
        return {**args, "access": target.access}
    if tier_rank(str(given)) > tier_rank(target.access):
        raise AccessError(
            f"task argument access={given!r} would raise the target's access tier {target.access!r}; "
            "the tier is granted with --access only"
        )
    return args


#: Deterministic defaults recorded with every run.
DEFAULT_GENERATION: dict[str, Any] = {"temperature": 0.0, "max_tokens": 64, "seed": 0}


def _one_line(exc: BaseException) -> str:
    """An exception's message as one plain line (Inspect's messages carry Rich markup)."""
    from rich.text import Text

    text = Text.from_markup(str(exc)).plain if "[" in str(exc) else str(exc)
    parts = [p.strip() for p in text.splitlines() if p.strip()]
    parts = [p.removeprefix("ERROR:").strip() for p in parts]
    return ": ".join(parts) or type(exc).__name__


def check_endpoint(url: str, *, timeout: float = 5.0) -> None:
    """Refuse a base URL that is not ``http(s)://host[:port]/...`` or whose host does not answer."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ConfigError(f"base URL {url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL {url!r} is not an http(s) URL like http://host:8000/v1")
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConfigError(f"cannot reach {parts.scheme}://{parts.hostname}:{port} ({url}): {reason}") from None


def known_providers() -> set[str]:
    """Names of every model provider Inspect knows (its built-ins, plugins and our ``local``)."""
    import inspect_ai.model  # noqa: F401  (registers Inspect's providers)
    from inspect_ai._util.registry import registry_find, registry_info, registry_unqualified_name

    import modelcert.providers.local  # noqa: F401  (registers local/)

    return {registry_unqualified_name(registry_info(o)) for o in registry_find(lambda i: i.type == "modelapi")}


def _base_url_for(model: str) -> str | None:
    provider = model.split("/", 1)[0]
    if provider == "openai-api":
        parts = model.split("/")
        if len(parts) >= 3:
            return os.environ.get(f"{parts[1].upper().replace('-', '_')}_BASE_URL")
        return None
    env = {"vllm": "VLLM_BASE_URL", "ollama": "OLLAMA_BASE_URL", "openai": "OPENAI_BASE_URL"}.get(provider)
    return os.environ.get(env) if env else None


def make_target(
    model: str,
    access: str | None = None,
    *,
    base_url: str | None = None,
    generation: dict[str, Any] | None = None,
    threads: int | None = None,
) -> Target:
    """Build a target from a model string and an optional requested tier.

    Args:
        model: Inspect model string, or ``local/<folder>``, ``local/<file.gguf>`` or
            ``local/zoo:<name>``.
        access: Requested tier; defaults to the highest the provider supports. A lower
            tier is a recorded downgrade; a higher one is an error.
        base_url: Overrides the provider's base URL (else its ``*_BASE_URL`` variable).
        generation: Generation settings (defaults: greedy, 64 new tokens, seed 0).
        threads: Torch threads for a model loaded in this process (default: ``MODELCERT_THREADS``,
            else 1 on machines with up to 4 cores).
    """
    if not model or "/" not in model:
        raise ConfigError(
            f"model {model!r} must be an Inspect model string like 'openai-api/<svc>/<model>' or 'local/<path>'"
        )
    typed = model
    provider, rest = model.split("/", 1)
    if not rest:
        raise ConfigError(f"model {model!r} names no model after the provider")
    if provider not in _PROVIDER_MAX_TIER or provider == "hf":
        known = known_providers()
        if provider not in known:
            raise ConfigError(
                f"unknown model provider {provider!r} in {model!r}; known: {', '.join(sorted(known))}"
            )
    max_access: Tier = _PROVIDER_MAX_TIER.get(provider, "api")
    path: Path | None = None
    if provider in ("local", "hf") and (provider == "local" or Path(rest).expanduser().is_dir()):
        path = resolve_local_path(rest)
        check_safetensors_only(path)
        if provider == "local":
            model = f"local/{path}"  # what the provider loads; ``address`` keeps what was typed
    elif provider == "hf":
        max_access = "weights"  # a hub id: loaded by Inspect's hf provider when online
    requested: Tier = max_access if access is None else access  # type: ignore[assignment]
    if tier_rank(requested) > tier_rank(max_access):
        raise AccessError(
            f"access {requested!r} requested but provider {provider!r} supports at most {max_access!r}"
        )
    gen = dict(DEFAULT_GENERATION if generation is None else generation)
    return Target(
        model=model,
        access=requested,
        max_access=max_access,
        path=path,
        base_url=base_url or _base_url_for(model),
        generation=gen,
        address=typed,
        threads=threads,
    )
