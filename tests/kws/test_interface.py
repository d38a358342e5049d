import numpy as np
import torch

from dlcli.kws.predictor import load_predictor
from dlcli.train.classifiers import INTERFACES, load_classifier


def test_kws_checkpoints_open_through_the_classifier_interface(trained_run, sample_corpus, tmp_path):
    assert INTERFACES["kws"] == "dlcli.kws.interface:KwsClassifier"
    classifier = load_classifier(trained_run / "best.pt")
    assert classifier.task == "kws" and classifier.labels[-1] == "_silence_"
    files = classifier.list_inputs([sample_corpus])
    assert len(files) == 280 and not any("_background_noise_" in str(f) for f in files)

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"nothing")
    inputs, loaded, failures = classifier.load_inputs([files[0], broken, files[1]])
    assert inputs.shape == (2, 16000) and loaded == [0, 2] and failures[0][0] == broken

    paths, labels = classifier.labelled_inputs(sample_corpus, "testing")
    assert len(paths) == 35 and len(labels) == 35  # one voice, every word (unknown words included)
    unknown = classifier.labels.index("_unknown_")
    assert labels.count(unknown) == 25
    all_paths, _ = classifier.labelled_inputs(sample_corpus)
    assert len(all_paths) == 280

    classifier.model.train()  # as a distillation student leaves it: scores must still be eval-mode, gradient-free
    logits = classifier.logits(inputs)
    assert logits.shape == (2, len(classifier.labels)) and not logits.requires_grad
    assert not classifier.model.training and torch.equal(classifier.logits(inputs), logits)

    # save new weights: an ordinary kws checkpoint the kws commands read
    with torch.no_grad():
        for parameter in classifier.model.parameters():
            parameter.mul_(0.5)
    saved = classifier.save(tmp_path / "student.pt", metrics={"agreement": 0.9}, extra={"distilled_from": "test"})
    predictor = load_predictor(saved, device="cpu")
    assert predictor.labels == classifier.labels and predictor.task == "12-class"
    expected = classifier.model.eval()(inputs).detach().numpy()
    assert np.allclose(predictor.logits(inputs.numpy()), expected, atol=1e-5)
    original = load_predictor(trained_run / "best.pt", device="cpu")
    assert not np.allclose(original.logits(inputs.numpy()), expected, atol=1e-3)
