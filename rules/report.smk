# The build report: plots drawn from each published store and an integrity page, registered for
# Snakemake's HTML report (categories per benchmark, captions in report/*.rst). Not part of `all`:
#   snakemake --cores 2 report --report report.html --report-after-run
# Each benchmark's plots depend on its publish record, so they are redrawn only when that store is
# published again; the integrity page runs verify each time it is made. report/Snakefile includes
# this file to make the same report from a store alone (nasbench_store.report.write_report).
from nasbench_store.report import PLOTS, caption_file, plot_files


report: "../report/workflow.rst"


rule report:
    input:
        work("report", "integrity.html"),
        [work("report", b, file) for b in BENCHMARKS for file in plot_files(b).values()],
    localrule: True


rule report_integrity:
    input:
        [published(b) for b in BENCHMARKS],
    output:
        report(
            work("report", "integrity.html"),
            caption="../report/integrity.rst",
            category="Integrity",
            subcategory="Verify, sources and versions",
        ),
    log:
        log("report_integrity.log"),
    localrule: True
    conda:
        "../envs/nasbench-store.yaml"
    params:
        store_dir=STORE_DIR,
        benchmarks=BENCHMARKS,
        sources={b: config.get("sources", {}).get(b) or {} for b in BENCHMARKS},
    script:
        "../scripts/report_integrity.py"


for _benchmark in REGISTRY:  # one rule per benchmark: its plots differ

    rule:
        name:
            f"report_{_benchmark}"
        input:
            published(_benchmark),
        output:
            **{
                plot.name: report(
                    work("report", _benchmark, plot_files(_benchmark)[plot.name]),
                    caption=f"../{caption_file(_benchmark, plot)}",
                    category=REGISTRY[_benchmark].title,
                    subcategory=plot.title,
                )
                for plot in PLOTS[_benchmark]
            },
        log:
            log(f"report_{_benchmark}.log"),
        localrule: True
        conda:
            "../envs/nasbench-store.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=20,
        params:
            store_dir=STORE_DIR,
            benchmark=_benchmark,
        script:
            "../scripts/report_plots.py"
