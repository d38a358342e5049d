from dlcli.distill.report import short_names


def test_report_names_checkpoints_by_the_fewest_parts_that_tell_them_apart():
    runs = ["runs/distill/teacher-w1.5/best.pt", "runs/distill/teacher-w1.0/best.pt", "runs/distill/student/best.pt"]
    assert short_names(runs) == ["teacher-w1.5/best.pt", "teacher-w1.0/best.pt", "student/best.pt"]
    assert short_names(["a.pt", "b.pt"]) == ["a.pt", "b.pt"]
    assert short_names(["x/m.pt", "y/m.pt", "m.pt"]) == ["x/m.pt", "y/m.pt", "m.pt"]
