import json

from livepapers.core.report import build_site, find_runs, latest_run, update_readme
from livepapers.core.reproduce import reproduce
from livepapers.core.runs import atomic_write_json, write_status


def fake_run(root, slug, name, status, verdicts, profile="default"):
    folder = root / slug / name
    folder.mkdir(parents=True)
    atomic_write_json(folder / "config.json", {"slug": slug, "profile": profile, "seeds": [0]})
    atomic_write_json(folder / "claims.json", {"verdicts": verdicts})
    atomic_write_json(folder / "env.json", {"git_revision": "abc", "torch": "2.13.0"})
    write_status(folder, status)
    return folder


def verdict(cid, status):
    return {"claim_id": cid, "status": status, "measured": "x = 1", "expected": "x ≥ 0", "reason": ""}


def test_site_from_fake_run_folders(toy_only, tmp_path):
    runs, site = tmp_path / "runs", tmp_path / "site"
    fake_run(runs, "toy", "20240101T000000Z-default-s0", "complete",
             [verdict("C1", "holds"), verdict("C2", "fails"), verdict("C3", "not_checkable")])
    killed = fake_run(runs, "toy", "20240102T000000Z-default-s0", "running", [])
    st = json.loads((killed / "status.json").read_text())
    st["pid"] = 2**22 + 12345  # no such process: the run was killed
    (killed / "status.json").write_text(json.dumps(st))
    index = build_site(runs, site).read_text()
    assert "A Toy Paper" in index
    strip = index.split('data-tier="default"')[1].split("</span>\n</span>")[0]
    assert "1 holds" in strip and "1 fails" in strip and "1 not checkable" in strip
    page = (site / "toy" / "index.html").read_text()
    assert 'title="20240102T000000Z-default-s0"' in page and "incomplete" in page  # history shows the killed run
    assert "Latest default run" in page and "acc is high" in page
    assert 'data-claim="C1" data-status="holds"' in page and 'data-claim="C2" data-status="fails"' in page
    # the killed run is not taken as the latest result
    assert latest_run(runs, "toy").name == "20240101T000000Z-default-s0"
    assert [r.status for r in find_runs(runs, "toy")] == ["complete", "incomplete"]


def test_site_with_no_runs(toy_only, tmp_path):
    index = build_site(tmp_path / "none", tmp_path / "site").read_text()
    assert "no default run yet" in index


def test_readme_block_is_generated_from_latest_default_run(toy_paper, tmp_path):
    from livepapers.core import registry

    readme = registry.get(toy_paper).readme
    before = readme.read_text()
    assert update_readme(toy_paper, tmp_path / "runs") is None  # no run: README untouched
    reproduce(toy_paper, profile="default", out=tmp_path / "runs", workers=1, verbose=False)
    update_readme(toy_paper, tmp_path / "runs")
    after = readme.read_text()
    assert after != before and "| C1 | acc is high" in after and "-default-s0x3" in after
    assert after.split("<!-- results:end -->")[1] == before.split("<!-- results:end -->")[1]


def test_site_survives_a_paper_that_cannot_import(toy_only, tmp_path, monkeypatch):
    from livepapers.core import registry

    monkeypatch.setitem(registry.PAPERS, "broken", "livepapers_no_such_package")
    index = build_site(tmp_path / "runs", tmp_path / "site").read_text()
    assert "A Toy Paper" in index
    assert "broken" in index and "cannot import" in index and "ModuleNotFoundError" in index


def test_site_shows_default_and_extended_side_by_side(toy_only, tmp_path):
    runs, site = tmp_path / "runs", tmp_path / "site"
    fake_run(runs, "toy", "20240101T000000Z-default-s0", "complete",
             [verdict("C1", "holds"), verdict("C2", "holds")])
    # no extended run yet: only the default row
    index = build_site(runs, site).read_text()
    assert 'data-tier="default"' in index and 'data-tier="extended"' not in index
    fake_run(runs, "toy", "20240103T000000Z-extended-s0x2", "complete",
             [verdict("C1", "fails"), verdict("C2", "holds")], profile="extended")
    # an incomplete extended run after it is not the one shown
    fake_run(runs, "toy", "20240104T000000Z-extended-s0x2", "failed", [], profile="extended")
    index = build_site(runs, site).read_text()
    default_strip = index.split('data-tier="default"')[1].split('data-tier="extended"')[0]
    extended_strip = index.split('data-tier="extended"')[1].split("</div>")[0]
    assert "2 hold" in default_strip and "0 fail" in default_strip
    assert "1 holds" in extended_strip and "1 fails" in extended_strip
    page = (site / "toy" / "index.html").read_text()
    assert "Latest default run" in page and "Latest extended run" in page and "20240103T000000Z-extended" in page
    c1 = page.split('id="claim-C1"')[1].split("</article>")[0]
    assert "default</span> holds" in c1 and "extended</span> fails" in c1


def test_preconditions_shown_on_the_site(toy_only, tmp_path):
    runs, site = tmp_path / "runs", tmp_path / "site"
    v = verdict("C4", "inconclusive") | {"preconditions": [{"check": "sanity ≥ 0.5", "status": "fails",
                                                           "measured": "sanity = 0.1 (n=1)", "reason": ""}]}
    fake_run(runs, "toy", "20240101T000000Z-default-s0", "complete", [v])
    build_site(runs, site)
    page = (site / "toy" / "index.html").read_text()
    # the metric's name reads as its label (the declared doc: no LABELS in the toy)
    assert ("“the sanity precondition&#39;s value” ≥ 0.5: NOT met (“the sanity precondition&#39;s value” = 0.1 "
            "(n=1))") in page


def test_report_and_site_label_metrics_with_their_declared_doc(toy_only, tmp_path):
    folder = reproduce(toy_only, profile="default", out=tmp_path / "runs", workers=1, verbose=False)
    report = (folder / "report.md").read_text()
    assert "## Metrics the claims read" in report
    assert "| `sanity` | the sanity precondition's value | — | higher is better |" in report
    assert "| `speed` | speed, measured once per run | x | higher is better |" in report
    build_site(tmp_path / "runs", tmp_path / "site")
    page = (tmp_path / "site" / "toy" / "index.html").read_text()
    assert "accuracy of the baseline" in page and "What the claims' metrics measure" in page
