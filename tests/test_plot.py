import pytest

pytest.importorskip("matplotlib")

from gnnrec.plot import _log_scale_if_wide, _style, plot_curves  # noqa: E402


def test_forty_runs_get_forty_distinct_styles():
    styles = {(s["color"], s.get("linestyle", "-")) for s in (_style(i, 40) for i in range(40))}
    assert len(styles) == 40
    # ten runs or fewer: plain solid colours, as before
    assert all("linestyle" not in _style(i, 10) for i in range(10))


def test_a_panel_spanning_orders_of_magnitude_is_drawn_on_a_log_axis():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (wide, narrow) = plt.subplots(1, 2)
    wide.plot([1, 2], [8.0, 0.01])
    narrow.plot([1, 2], [0.6, 0.3])
    for ax in (wide, narrow):
        _log_scale_if_wide(ax)
    assert wide.get_yscale() == "log" and narrow.get_yscale() == "linear"
    plt.close(fig)


def test_many_runs_some_lacking_the_first_panel_still_plot(tmp_path):
    runs = {f"run {i}": [{"epoch": e, "loss": 1.0 / (e + i)} for e in range(1, 4)]
            for i in range(25)}
    runs["no loss"] = [{"epoch": 1, "val/recall@20": 0.1}]  # only in the second panel
    path = plot_curves(runs, [("loss", "loss"), ("val/recall@20", "recall")],
                       str(tmp_path / "c.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
