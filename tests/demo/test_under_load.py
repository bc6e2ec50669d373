"""The demo under load, through gradio_client against `recon3r demo` in a subprocess (tiny model).

- A request over the per-run limit of images × iterations is refused with what would fit.
- Cancelled heavy requests stop at once (the server's CPU goes idle, no run folder stays) and the
  next normal request takes at most twice its unloaded time.
- SIGTERM and SIGINT, even during a run, leave nothing of the session in the temporary folder.
"""

import concurrent.futures
import signal
import statistics
import time

import pytest

pytest.importorskip("gradio", reason="the web demo needs the `demo` extra (gradio)")
client_api = pytest.importorskip("gradio_client", reason="the load test needs gradio_client (installed with gradio)")
from gradio_client.utils import Status  # noqa: E402

RUNNING = (Status.PROCESSING, Status.PROGRESS, Status.ITERATING)


def request(photos, niter: int) -> tuple:
    """The inputs of the /reconstruct endpoint: photos, captions, graph, window, iterations, schedule,
    minimum confidence, far mask, cutoff, geometry, cameras."""
    files = [client_api.handle_file(str(p)) for p in photos]
    return files, None, "complete", 3, niter, "cosine", 3.0, False, 3.0, "points", True


def connect(url: str):
    return client_api.Client(url, verbose=False, download_files=False)


def wait_until_running(jobs: list, timeout: float = 60.0):
    """The first of `jobs` that the server runs (they were submitted at once: any may go first)."""
    deadline = time.monotonic() + timeout
    while True:
        for job in jobs:
            if job.status().code in RUNNING:
                return job
        if time.monotonic() > deadline or any(job.done() for job in jobs):
            raise AssertionError(f"no request started within {timeout:.0f} s: {[j.status().code for j in jobs]}")
        time.sleep(0.05)


def timed_run(client, photos) -> float:
    tick = time.perf_counter()
    glb, _, downloads, _ = client.predict(*request(photos, 300), api_name="/reconstruct")
    assert glb["path"].endswith("scene.glb") and len(downloads) == 4
    return time.perf_counter() - tick


def session_runs(demo) -> list:
    return sorted(p.name for p in demo.tmpdir.glob("recon3r-demo-*/runs/run-*"))


def test_cancelled_heavy_requests_stop_and_the_next_request_is_not_slowed(start_demo, photos, five_photos):
    demo = start_demo("--silent")
    client = connect(demo.url)
    timed_run(client, photos[:2])  # warm-up
    with pytest.raises(client_api.exceptions.AppError, match=r"5 images × 700 alignment iterations = 3,500 "
                                                             r"image-iterations.*at most 600 iterations"):
        client.predict(*request(five_photos, 700), api_name="/reconstruct")  # over the default limit
    unloaded = statistics.median(timed_run(client, photos[:2]) for _ in range(3))
    runs_before = session_runs(demo)

    # Three heavy requests (5 photos × 600 iterations: about a minute each here) from three users at
    # once: they queue, and each is cancelled while it runs.
    clients = [connect(demo.url) for _ in range(3)]
    jobs = [c.submit(*request(five_photos, 600), api_name="/reconstruct") for c in clients]
    waiting = list(jobs)
    while waiting:
        job = wait_until_running(waiting)
        time.sleep(0.5)  # well into pair inference or alignment
        tick = time.perf_counter()
        job.cancel()  # returns once the server has cancelled the request
        assert time.perf_counter() - tick < 5.0
        waiting.remove(job)
    concurrent.futures.wait(jobs, timeout=30)
    assert [job.status().code for job in jobs] == [Status.CANCELLED] * 3

    # The cancelled work has stopped: no CPU use, and no run folder of it left.
    cpu = demo.cpu_seconds()
    time.sleep(1.0)
    assert demo.cpu_seconds() - cpu < 0.3, "the server kept computing after the requests were cancelled"
    assert session_runs(demo) == runs_before

    loaded = timed_run(client, photos[:2])
    assert loaded <= 2 * unloaded, f"after three cancelled requests a 2-photo run took {loaded:.2f} s, " \
                                   f"unloaded {unloaded:.2f} s"

    # Two users at once: both complete, one after the other, each in its own run folder.
    pool = [connect(demo.url) for _ in range(2)]
    both = [c.submit(*request(photos[:2], 0), api_name="/reconstruct") for c in pool]
    folders = {result[0]["path"].rsplit("/", 2)[-2] for result in (job.result(timeout=120) for job in both)}
    assert len(folders) == 2
    assert demo.stop() == 0 and list(demo.tmpdir.iterdir()) == []


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signals_remove_every_temporary_file_of_the_session(start_demo, photos, five_photos, stop_signal):
    demo = start_demo()
    client = connect(demo.url)
    client.predict(*request(photos[:2], 0), api_name="/reconstruct")  # uploads, results, a COLMAP zip
    assert len(session_runs(demo)) == 1
    files = [f for f in demo.tmpdir.rglob("*") if f.is_file()]
    assert [f.parent.parent.name for f in files if f.name == "scene.glb"] == ["runs"]  # served from where written
    assert [f.name for f in files if f.stat().st_size == 0] == []  # no stray empty file per upload
    heavy = connect(demo.url).submit(*request(five_photos, 600), api_name="/reconstruct")
    wait_until_running([heavy])
    tick = time.perf_counter()
    assert demo.stop(stop_signal) == 0
    assert time.perf_counter() - tick < 10, "stopping waited for the run in progress to finish"
    assert list(demo.tmpdir.iterdir()) == [], "files of the session were left behind"
