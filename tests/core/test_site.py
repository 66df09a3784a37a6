"""The live digest: claim plots, labels, history, the digest table, equations and benchmarks (no browser)."""

import json
import re

import pytest

from livepapers.core import registry
from livepapers.core.claims import AllOf, AnyOf, Band, Claim, Order, Ratio, evaluate_claim
from livepapers.core.report import build_site
from livepapers.core.reproduce import reproduce
from livepapers.core.runs import atomic_write_json, write_status
from livepapers.core.website import _history, benchplot, claim_title, digests, labeller, markdown, words
from livepapers.core.website.claimplot import claim_parts, draw

# ---- claim plots of constructed verdicts --------------------------------------------------------------------------


def _ids(svg: str) -> list[str]:
    return re.findall(r'id="((?:part|pass-region|seeds|interval|centre)-[^"]*)"', svg)


def test_plot_of_a_straddling_interval_is_inconclusive_and_draws_the_interval_across_the_threshold():
    per_seed = [{"x": v} for v in (0.88, 0.95, 1.02, 1.09)]
    claim = Claim("C1", "x is at least 0.9", "Tab. 1", "0.95", check=Band("x", lo=0.9))
    verdict = evaluate_claim(claim, per_seed)
    (part,) = claim_parts(claim, per_seed)
    assert verdict.status == part.status == "inconclusive"  # the plot judges exactly as the engine
    assert part.lo < 0.9 < part.hi and part.region == (0.9, None) and not part.log
    assert part.values == pytest.approx([0.88, 0.95, 1.02, 1.09]) and part.centre == pytest.approx(0.985)
    ids = _ids(draw([part]))
    assert {"part-0-inconclusive", "pass-region-0", "seeds-0", "interval-0", "centre-0"} <= set(ids)


def test_plot_of_a_band_spanning_decades_uses_a_log_axis():
    per_seed = [{"err": v} for v in (2e-12, 5e-12, 1e-11)]
    claim = Claim("C2", "tiny error", "Eq. 3", "exact", check=Band("err", hi=1e-8))
    (part,) = claim_parts(claim, per_seed)
    assert part.status == "holds" and part.log and part.region == (None, 1e-8)
    svg = draw([part])
    assert "part-0-holds" in svg and "pass-region-0" in svg
    assert "10^{-" in svg or "10<tspan" in svg or "−12" in svg or "-12" in svg  # decade tick labels
    # a narrow band stays linear
    (lin,) = claim_parts(Claim("C3", "s", "s", "s", check=Band("err", lo=1e-12, hi=2e-11)), per_seed)
    assert not lin.log


def test_plot_of_an_allof_puts_the_failing_part_first_and_names_it_in_words():
    per_seed = [{"acc": 0.9 + 0.01 * i, "base": 0.5, "err": 0.2 + 0.01 * i, "sanity": 1.0} for i in range(4)]
    claim = Claim("C4", "good and exact", "Tab. 2", "—",
                  check=AllOf((Order("acc", ">", "base", margin=0.1), Band("err", hi=0.05))),
                  requires=(Band("sanity", lo=0.5),))
    assert evaluate_claim(claim, per_seed).status == "fails"
    label = {"acc": "accuracy", "base": "baseline accuracy", "err": "relative error"}.get
    parts = claim_parts(claim, per_seed, lambda n: label(n) or n)
    assert [p.status for p in parts] == ["fails", "holds", "holds"]
    assert parts[0].label == "relative error" and parts[0].expectation == "should be at most 0.05"
    assert parts[1].label == "accuracy − baseline accuracy" and parts[1].region == (0.1, None)
    assert parts[2].role == "precondition" and parts[2].title.startswith("precondition")
    ids = _ids(draw(parts))
    assert [i for i in ids if i.startswith("part-")] == ["part-0-fails", "part-1-holds", "part-2-holds"]


def test_plot_of_an_anyof_draws_every_alternative_marked_as_one():
    per_seed = [{"acc": 0.6, "acc_bad": 0.59 + 0.001 * i, "cf": 0.1, "cf_bad": 0.5 + 0.01 * i} for i in range(4)]
    claim = Claim("C7", "the wrong penalty loses accuracy or invariance", "s", "s",
                  check=AnyOf((Order("acc_bad", "<=", "acc", margin=0.02), Ratio("cf_bad", "cf", lo=2.0))))
    assert evaluate_claim(claim, per_seed).status == "holds"
    parts = claim_parts(claim, per_seed)
    assert [(p.status, p.role) for p in parts] == [("fails", "alternative"), ("holds", "alternative")]
    assert parts[0].title.startswith("one alternative")
    assert "part-0-fails" in draw(parts)


def test_plot_against_a_number_shows_the_metric_itself_and_every_seed_rule_colours_seeds():
    per_seed = [{"acc": v} for v in (0.6, 0.7, 0.8)]
    claim = Claim("C5", "above chance", "s", "s", check=Order("acc", ">", 0.5, margin=0.05), over_seeds="every")
    (part,) = claim_parts(claim, per_seed)
    assert part.values == pytest.approx([0.6, 0.7, 0.8]) and part.region == (pytest.approx(0.55), None)
    assert part.centre is None and part.passes == [True, True, True]  # each seed judged on its own
    assert "interval-0" not in draw([part])


def test_plot_without_values_says_so():
    (part,) = claim_parts(Claim("C6", "s", "s", "s", check=Band("x", lo=1)), [{"y": 1.0}])
    assert part.values == [] and part.status == "inconclusive"
    assert "no per-seed values in this run" in draw([part])


# ---- labels -------------------------------------------------------------------------------------------------------


def test_labels_beside_claims_then_the_metric_doc_then_the_name(toy_only, monkeypatch):
    paper = registry.get(toy_only)
    label = labeller(paper)
    assert label("acc") == "accuracy of the toy"  # no LABELS: the declared doc
    assert label("undeclared") == "undeclared"
    assert claim_title(paper, paper.claims[0]) == "Tab. 1"  # no title: the claim's source
    monkeypatch.setattr(paper.claims_module, "LABELS", {"acc": "toy accuracy", "C1": "The toy is accurate"},
                        raising=False)
    label = labeller(paper)
    assert label("acc") == "toy accuracy" and label("base") == "accuracy of the baseline"
    assert claim_title(paper, paper.claims[0]) == "The toy is accurate"
    assert words("acc > base; accuracy", ("acc", "base"), label) == \
        "“toy accuracy” > “accuracy of the baseline”; accuracy"


def test_every_registered_papers_labels_name_declared_metrics_or_claims():
    for p in registry.all_papers():
        labels = getattr(p.claims_module, "LABELS", {})
        known = set(p.metrics or {}) | {c.id for c in p.claims}
        assert set(labels) <= known, f"{p.slug}: LABELS name unknown metrics {sorted(set(labels) - known)[:5]}"


# ---- history ------------------------------------------------------------------------------------------------------


def _fake_run(root, name, profile, status, verdicts, rev="abcdef1234567"):
    folder = root / "toy" / name
    folder.mkdir(parents=True)
    atomic_write_json(folder / "config.json", {"slug": "toy", "profile": profile, "seeds": [0]})
    atomic_write_json(folder / "claims.json", {"verdicts": [
        {"claim_id": c, "status": s, "measured": "m", "expected": "e", "reason": ""} for c, s in verdicts.items()]})
    atomic_write_json(folder / "env.json", {"git_revision": rev, "time_utc": name[:4] + "-01-0" + name[7] + "T10:00"})
    write_status(folder, status)


def test_history_from_fake_run_folders(toy_only, tmp_path):
    from livepapers.core.report import find_runs

    runs, site = tmp_path / "runs", tmp_path / "site"
    _fake_run(runs, "20240101T000000Z-default-s0", "default", "complete", {"C1": "fails", "C2": "holds"},
              "1111111111aa")
    _fake_run(runs, "20240102T000000Z-extended-s0", "extended", "complete", {"C1": "inconclusive"}, "2222222222bb")
    _fake_run(runs, "20240103T000000Z-default-s0", "default", "complete", {"C1": "holds", "C2": "holds"},
              "3333333333cc")
    rows = _history(registry.get("toy"), find_runs(runs, "toy"))
    assert [r.rev for r in rows] == ["3333333333", "2222222222", "1111111111"]  # newest first
    assert [r.run.profile for r in rows] == ["default", "extended", "default"]
    assert [r.cells[:2] for r in rows] == [["holds", "holds"], ["inconclusive", "none"], ["fails", "holds"]]
    assert rows[0].date.startswith("2024-01-03")
    build_site(runs, site, benchmarks=tmp_path)
    page = (site / "toy" / "index.html").read_text()
    hist = page.split('id="history"')[1].split("</section>")[0]
    assert hist.count("<tr><td") == 3 and "1111111111" in hist and 'class="cell fails"' in hist


# ---- the digest table ---------------------------------------------------------------------------------------------


def test_the_digest_table_matches_every_registered_papers_record():
    table = digests.load()
    assert [d.file[:3] for d in table] == ["000", "001", "002", "003", "004"]
    assert [len(d.items) for d in table] == [5, 7, 5, 5, 5]
    for d in table:
        assert [it.n for it in d.items] == list(range(1, len(d.items) + 1)), d.file
        for it in d.items:
            assert it.title and it.authors and 2015 <= it.year <= 2030 and it.link.startswith("https://"), it
            assert it.summary or it.slug, f"{it.ref}: an item not built needs our summary"
            assert not it.arxiv or re.fullmatch(r"\d{4}\.\d{4,5}", it.arxiv), it.arxiv
    slugs = [it.slug for it in digests.items() if it.slug]
    assert len(slugs) == len(set(slugs))
    for p in registry.all_papers():
        assert digests.mismatches(p.info) == [], p.slug
    for slug in slugs:
        registry.get(slug)  # every slug the table names is registered


def test_a_mismatch_with_a_paper_record_is_named(toy_only):
    problems = digests.mismatches(registry.get(toy_only).info)
    assert problems == ["toy: 0 items of the digest table name this slug (expected 1)"]
    mega = next(it for it in digests.items() if it.slug == "mega")
    info = registry.PaperInfo(slug="mega", title="Mega II", authors=mega.authors, year=mega.year, arxiv="2209.1",
                              digest_item=mega.ref)
    problems = digests.mismatches(info)
    assert len(problems) == 2 and "title" in problems[0] and "'Mega II'" in problems[0] and "arxiv" in problems[1]


# ---- equations, markdown, benchmarks ------------------------------------------------------------------------------


def test_markdown_renders_math_as_mathml_and_escapes_everything_else():
    html = markdown.inline(r"$\hat a = a_c + a_{nc}$ in `NNPhD.forward` <script>x</script> **b**")
    assert "<math" in html and "<mi>a</mi>" in html and "<code>NNPhD.forward</code>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html and "<strong>b</strong>" in html
    block = markdown.render("intro\n\n| eq | code |\n|---|---|\n| $x^2$ | `f` |\n\n- one\n- two `$y$`\n")
    assert "<table>" in block and block.count("<li>") == 2 and "<msup>" in block and "<code>$y$</code>" in block
    assert markdown.parse_table("| a | b |\n|---|---|\n| 1 | 2 \\| 3 |") == [["a", "b"], ["1", "2 | 3"]]


def test_every_readme_equation_converts_to_mathml():
    from livepapers.core.website import _equations

    for p in registry.all_papers():
        _, rows = _equations(p.readme)
        assert len(rows) > 2, f"{p.slug}: no Equations → code table"
        for row in rows[1:]:
            assert "class='tex'" not in markdown.inline(row[0]), f"{p.slug}: {row[0]}"


def test_benchmark_results_as_charts_and_tables(tmp_path):
    rows = [{"model": m, "length": L, "time_s": c * L ** k, "times_s": [1.0]}
            for m, c, k in (("fast", 1e-4, 1.0), ("slow", 1e-6, 2.0)) for L in (256, 512, 1024, 2048)]
    results = {"threads": 1, "rows": rows, "impl": {"a_samples_per_s": 10.0, "b_samples_per_s": 1000.0, "n": 3},
               "charts": [{"kind": "lines", "records": "rows", "x": "length", "y": ["time_s"], "group": "model",
                           "loglog": True, "title": "time vs L"},
                          {"kind": "bars", "dict": "impl", "keys": ["*_per_s"], "log": True, "title": "speed"},
                          {"kind": "pie", "title": "bad"}]}
    (tmp_path / "x.json").write_text(json.dumps({"env": {"cpu": "cpu", "git_revision": "abc"}, "results": results}))
    bench = benchplot.load(tmp_path / "x.json", "x")
    assert [t for t, _ in bench.charts] == ["time vs L", "speed"]
    assert "slope 1.00" in bench.charts[0][1] and "slope 2.00" in bench.charts[0][1]  # fitted per line
    assert bench.errors == ["chart 'bad': ValueError: unknown chart kind 'pie'"]
    titles = [t.title for t in bench.tables]
    assert titles == ["settings", "rows", "impl"] and "times_s" not in bench.tables[1].columns
    assert benchplot.load(tmp_path / "missing.json", "missing") is None


def test_every_shipped_benchmark_chart_draws(tmp_path):
    from livepapers.core.runs import source_root

    results = source_root() / "benchmarks" / "results"
    if not results.is_dir():
        pytest.skip("not a source checkout: no benchmarks/results")
    for name in benchplot.specs():
        if (results / f"{name}.json").exists():
            bench = benchplot.load(results / f"{name}.json", name)
            assert bench.errors == [] and len(bench.charts) == len(benchplot.specs()[name]), name


# ---- a real (toy) run end to end ----------------------------------------------------------------------------------


def test_site_of_a_real_run_has_a_card_verdict_and_plot_for_every_claim(toy_only, tmp_path):
    reproduce(toy_only, profile="default", out=tmp_path / "runs", workers=1, verbose=False)
    build_site(tmp_path / "runs", tmp_path / "site", benchmarks=tmp_path)
    page = (tmp_path / "site" / "toy" / "index.html").read_text()
    for c in registry.get(toy_only).claims:
        card = page.split(f'id="claim-{c.id}"')[1].split("</article>")[0]
        assert re.search(r'class="badge (holds|fails|inconclusive|not_checkable)"', card), c.id
        if c.check is None:
            assert "Not checkable here:" in card and c.not_checkable in card
        else:
            src = re.search(r'<img src="(plots/default-[^"]+\.svg)"', card).group(1)
            assert (tmp_path / "site" / "toy" / src).read_text().startswith("<?xml")
    index = (tmp_path / "site" / "index.html").read_text()
    assert re.search(r"<strong>1</strong> papers built .*<strong>5</strong> claims checked", index, re.S)
