"""A short version of `python -m benchmarks.load_test`: many users at once get their own pictures or a clear
"queue full", the queue serves in order, and memory stays flat over requests in a row."""

from __future__ import annotations

import time

import pytest
from gradio_client import Client

from benchmarks.load_test import concurrent_users, make_inputs, run_one, sequential_memory, summary
from tests.app_server import AppServer

pytestmark = pytest.mark.slow  # many users and requests against app processes


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return make_inputs(tmp_path_factory.mktemp("load-inputs"))


@pytest.fixture(scope="module")
def small_queue(tiny_dir, tmp_path_factory):
    server = AppServer(tiny_dir, tmp_path_factory.mktemp("small-queue-outputs"), "--queue-size", "3")
    yield server
    server.stop()


def test_sixteen_users_at_once_each_get_their_own_picture(app_server, inputs, tmp_path):
    outcomes = concurrent_users(app_server.url, 16, inputs, tmp_path)
    result = summary(outcomes)
    assert (result["ok"], result["errors"], result["mixups"]) == (16, [], [])
    assert {(o.endpoint, o.model) for o in outcomes} >= {("txt2img", "tiny-sdxl"), ("inpaint", "tiny-sd15"),
                                                         ("controlnet", "tiny-sd15"), ("img2img", "tiny-sdxl")}


def test_past_a_full_queue_users_are_told_and_the_server_answers_the_next(small_queue, inputs, tmp_path):
    outcomes = concurrent_users(small_queue.url, 12, inputs, tmp_path)
    result = summary(outcomes)
    assert result["errors"] == [] and result["mixups"] == []
    assert result["ok"] >= 1 and result["queue_full"] >= 1  # at most one running and three waiting
    assert result["ok"] + result["queue_full"] == 12
    fresh = run_one(small_queue.url, 777, inputs, tmp_path)
    assert (fresh.result, fresh.problems) == ("ok", [])


def test_the_queue_serves_users_in_the_order_they_came(app_server, tmp_path):
    clients = [Client(app_server.url, verbose=False, download_files=str(tmp_path / str(i))) for i in range(5)]
    first = clients[0].submit(prompt="long", steps=60, width=256, height=256, api_name="/txt2img")
    waiting, finished = [], {}
    for number, client in enumerate(clients[1:], start=1):
        time.sleep(0.3)
        waiting.append(client.submit(prompt=f"user {number}", steps=2, api_name="/txt2img", result_callbacks=[
            lambda *outputs, number=number: finished.setdefault(number, time.monotonic())]))
    for job in waiting:
        job.result(timeout=300)
    first.result(timeout=300)
    time.sleep(0.2)  # the last callback has run
    assert sorted(finished, key=finished.get) == [1, 2, 3, 4]


def test_memory_stays_flat_over_requests_in_a_row(app_server, inputs, tmp_path):
    samples, failures = sequential_memory(app_server.url, app_server.process.pid, 40, inputs, tmp_path)
    assert failures == []
    (_, after_10), *_, (_, after_40) = samples
    assert after_40 - after_10 < 150, samples  # MiB: a leak of a picture per request would show here
