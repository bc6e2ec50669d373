"""How the demo is served: loopback by default, all interfaces only when asked, no outside traffic."""

import os
import socket
import urllib.request

import pytest

from recon3r.cli import main
from recon3r.demo.app import server_settings

gr = pytest.importorskip("gradio", reason="the web demo needs the `demo` extra (gradio)")


@pytest.fixture
def recorded_launch(monkeypatch):
    """Replace gr.Blocks.launch by a recorder, so no port is opened."""
    calls = []

    def fake_launch(self, **kwargs):
        calls.append((self, kwargs))

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    return calls


def test_server_binds_loopback_unless_local_network_is_asked_for():
    default = server_settings()
    assert default["server_name"] == "127.0.0.1" and default["share"] is False
    assert server_settings(local_network=True)["server_name"] == "0.0.0.0"
    assert server_settings(server_name="192.168.1.5")["server_name"] == "192.168.1.5"
    assert server_settings(port=8123, max_file_mb=2.5)["server_port"] == 8123
    assert server_settings(max_file_mb=2.5)["max_file_size"] == "2.5mb"
    assert default["ssr_mode"] is False and default["mcp_server"] is False and default["run_history"] is False


@pytest.mark.parametrize(("flags", "host"), [([], "127.0.0.1"), (["--local-network"], "0.0.0.0"),
                                             (["--server-name", "localhost"], "localhost")])
def test_cli_passes_host_port_and_upload_limit_to_gradio(recorded_launch, tiny_weights, tmp_path, flags, host):
    code = main(["demo", "--weights", str(tiny_weights), "--port", "8765", "--max-file-mb", "3",
                 "--workdir", str(tmp_path), *flags])
    assert code == 0
    (blocks, kwargs), = recorded_launch
    assert kwargs["server_name"] == host and kwargs["server_port"] == 8765 and kwargs["share"] is False
    assert kwargs["max_file_size"] == "3mb" and kwargs["prevent_thread_lock"] is True
    assert blocks.analytics_enabled is False and os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert list(tmp_path.iterdir()) == []  # the session folder is gone once the demo returns


@pytest.mark.parametrize("argv", [
    # DUSt3R's demo.py and the multimodal demo_exif.py, as their READMEs print them (paths replaced)
    ["--weights", "{W}", "--local_network", "--image_size", "224"],
    ["--weights", "{W}", "--image_size", "224", "--server_name", "127.0.0.1", "--server_port", "8766",
     "--device", "cpu", "--tmp_dir", "{T}", "--silent"],
])
def test_original_demo_flags_run_as_written(recorded_launch, tiny_weights, tmp_path, argv):
    argv = [a.replace("{W}", str(tiny_weights)).replace("{T}", str(tmp_path)) for a in argv]
    assert main(["demo", *argv]) == 0
    (blocks, kwargs), = recorded_launch
    if "--local_network" in argv:
        assert kwargs["server_name"] == "0.0.0.0" and kwargs["server_port"] is None
    else:
        assert kwargs["server_name"] == "127.0.0.1" and kwargs["server_port"] == 8766 and kwargs["quiet"] is True


def test_share_and_model_name_are_refused_with_the_reason(recorded_launch, tiny_weights, capsys):
    assert main(["demo", "--weights", str(tiny_weights), "--share"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--share is refused" in err and "no outside connections" in err
    assert main(["demo", "--model_name", "DUSt3R_ViTLarge_BaseDecoder_512_dpt"]) == 2
    err = capsys.readouterr().err
    assert "download DUSt3R_ViTLarge_BaseDecoder_512_dpt.pth yourself and pass --weights PATH" in err
    assert not recorded_launch


def test_underscore_spellings_stay_out_of_help(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert "--image-size" in text and "--server-name" in text and "--max-image-iterations" in text
    assert "--image_size" not in text and "--server_port" not in text and "--tmp_dir" not in text


def test_missing_example_model_is_a_clear_error(monkeypatch, recorded_launch, tmp_path, capsys):
    import recon3r.assets

    monkeypatch.setattr(recon3r.assets, "example_model_path", lambda: tmp_path / "example_model")
    assert main(["demo"]) == 2
    assert "no --weights given and the example model is missing" in capsys.readouterr().err
    assert not recorded_launch


def test_bad_flags_are_refused_before_loading(recorded_launch, tiny_weights, capsys):
    assert main(["demo", "--weights", str(tiny_weights), "--port", "70000"]) == 2
    assert "--port must be between 1 and 65535, got 70000" in capsys.readouterr().err
    assert main(["demo", "--weights", str(tiny_weights), "--max-images", "1"]) == 2
    assert "--max-images must be 2 or more" in capsys.readouterr().err
    assert main(["demo", "--weights", str(tiny_weights), "--max-image-iterations", "-1"]) == 2
    assert "--max-image-iterations must be 0 or more, got -1" in capsys.readouterr().err
    assert main(["demo", "--weights", str(tiny_weights), "--max-results-mb", "0"]) == 2
    assert "--max-results-mb must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # DUSt3R's demo has them mutually exclusive too
        main(["demo", "--weights", str(tiny_weights), "--local_network", "--server_name", "::1"])
    with pytest.raises(SystemExit):
        main(["demo", "--image-size", "300"])
    assert not recorded_launch


def test_page_has_every_control_and_output(tiny_model, tmp_path):
    from recon3r.demo import DemoSettings, build_demo

    demo = build_demo(tiny_model, DemoSettings(workdir=tmp_path))
    ids = {c.get("props", {}).get("elem_id") for c in demo.config["components"]}
    assert {"images", "captions", "graph", "graph-param", "niter", "schedule", "min-conf", "mask-far", "far-ratio",
            "geometry", "frusta", "run", "scene3d", "maps", "downloads", "summary"} <= ids
    types = {c["props"].get("elem_id"): c["type"] for c in demo.config["components"]}
    assert types["scene3d"] == "model3d" and types["maps"] == "gallery" and types["images"] == "file"


def test_served_page_makes_no_outside_connections(tiny_weights, tmp_path, monkeypatch):
    from recon3r.demo import launch

    outside = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            outside.append(address)
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "::1", "localhost", None):
            outside.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = launch(tiny_weights, port=port, workdir=tmp_path, block=False)
    try:
        assert demo.server_name == "127.0.0.1" and demo.server_port == port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.status == 200 and b"recon3r demo" in response.read()
    finally:
        demo.close()
    assert outside == []
    assert list(tmp_path.iterdir()) == []


def test_a_busy_port_is_a_clear_error(tiny_weights, tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--weights", str(tiny_weights), "--port", str(port), "--workdir", str(tmp_path)]) == 2
    assert f"error: cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
