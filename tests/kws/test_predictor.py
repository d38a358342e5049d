from dlcli.kws.predictor import _thread_setting


def test_onnx_runtime_follows_the_thread_setting_torch_follows(monkeypatch):
    monkeypatch.delenv("DLCLI_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _thread_setting() is None  # onnxruntime's own default
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _thread_setting() == 3
    monkeypatch.setenv("DLCLI_THREADS", "1")
    assert _thread_setting() == 1  # dlcli's own setting wins
    monkeypatch.setenv("DLCLI_THREADS", "lots")
    assert _thread_setting() == 3
