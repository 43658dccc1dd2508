"""Run a function over shards: in this process, in a process pool, or as Ray actors.

``run_shards(make_worker, tasks, engine=..., workers=...)`` calls ``make_worker()`` once per
process (or Ray actor) and yields ``worker(task)`` for every task as each finishes (not in task
order). The caller, in the driver, writes what comes back, so the output needs no shared
filesystem; whatever the tasks name (input files) must be readable where they run.

``engine="ray"`` imports Ray only then: a local Ray with ``workers`` CPUs, or the running cluster
at ``address`` (``HOST:PORT`` of ``ray start --head``). ``make_worker`` and the tasks must be
picklable and the ``explorer`` package installed on every node.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import socket
import sys
from typing import Callable, Iterable, Iterator

ENGINES = ("local", "ray")
RAY_MISSING = "Ray is not installed: pip install 'latent-explorer[scale]'"

_WORKER = None  # this pool process's worker (made once by the pool initializer)


class EngineError(RuntimeError):
    """An engine that cannot run here (Ray missing, no cluster at the address)."""


def check_engine(engine: str, workers: int, address: str | None = None) -> None:
    """ValueError naming a bad engine, worker count or address."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if workers < 0:
        raise ValueError(f"--workers must be ≥ 0 (0 = all cores), got {workers}")
    if address is not None and engine != "ray":
        raise ValueError("--address names a Ray cluster; it goes with --engine ray")


def run_shards(make_worker: Callable[[], Callable], tasks: Iterable, *, engine: str = "local", workers: int = 1,
               address: str | None = None, start_method: str | None = None) -> Iterator:
    """Yield ``make_worker()(task)`` for every task, as each completes. ``workers`` 0 means every
    core here (local) or every CPU of the Ray cluster.

    ``tasks`` may be a generator (read as workers free up, so large task data need not all be in
    memory on Ray). ``start_method`` of the local pool: ``"fork"`` by default on Linux (fast),
    ``"spawn"`` for work that uses torch threads. Raises EngineError for Ray when it is missing or
    unreachable.
    """
    check_engine(engine, workers, address)
    if hasattr(tasks, "__len__") and len(tasks) == 0:
        return iter(())
    if engine == "ray":
        return _run_ray(import_ray(), make_worker, tasks, workers, address)
    return _run_local(make_worker, tasks, workers or (os.cpu_count() or 1), start_method)


def _run_local(make_worker, tasks, workers: int, start_method: str | None) -> Iterator:
    if hasattr(tasks, "__len__"):
        workers = min(workers, max(1, len(tasks)))
    if workers == 1:
        worker = make_worker()
        for task in tasks:
            yield worker(task)
    else:
        method = start_method or ("fork" if sys.platform.startswith("linux") else "spawn")
        ctx = mp.get_context(method)
        with ctx.Pool(workers, initializer=_init_worker, initargs=(make_worker,)) as pool:
            yield from pool.imap_unordered(_call_worker, tasks)


def _init_worker(make_worker):
    global _WORKER
    _WORKER = make_worker()


def _call_worker(task):
    return _WORKER(task)


def import_ray():
    """The ray module, or EngineError with the one line that says how to install it."""
    try:
        import ray
    except ImportError:
        raise EngineError(RAY_MISSING) from None
    return ray


def probe_address(address: str, timeout: float = 5.0) -> None:
    """EngineError when nothing answers at ``HOST:PORT`` (Ray itself retries for minutes); other
    forms Ray accepts (``auto``, ``ray://…``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise EngineError(f"no Ray head answers at {address} ({exc.strerror or exc}); start one with "
                          "`ray start --head --port=6379` and pass --address HEAD:6379") from None


def _run_ray(ray, make_worker, tasks, workers: int, address: str | None) -> Iterator:
    started = not ray.is_initialized()
    if started and address:
        probe_address(address)
    if started:
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise EngineError(f"could not start {where}: {' '.join(str(exc).split())[:300]}") from None
    try:
        n_actors = workers or int(ray.cluster_resources().get("CPU", 1))
        if hasattr(tasks, "__len__"):
            n_actors = min(n_actors, len(tasks))
        if n_actors < 1:
            return

        @ray.remote(num_cpus=1)
        class ShardActor:
            def __init__(self, make):
                self.worker = make()

            def run(self, task):
                return self.worker(task)

        actors = [ShardActor.remote(make_worker) for _ in range(n_actors)]
        todo = iter(tasks)
        inflight = {}

        def submit(actor):
            task = next(todo, None)
            if task is not None:
                inflight[actor.run.remote(task)] = actor

        for a in actors:  # one task per actor at a time: the driver holds no more than it writes
            submit(a)
        while inflight:
            (ref,), _ = ray.wait(list(inflight), num_returns=1)
            actor = inflight.pop(ref)
            result = ray.get(ref)
            submit(actor)
            yield result
    finally:
        if started:
            ray.shutdown()
