"""How docs/mlflow-compare.png and docs/mlflow-runs.png were made (not part of the package).

Prereqs: an MLflow UI serving the sweep, e.g. from the repo root:
    mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --host 127.0.0.1 --port 5055
and `pip install playwright` (drives the system chromium; no `playwright install`).

Usage: python docs/screenshot.py COMPARE_URL
COMPARE_URL is the MLflow "compare runs" URL for the completed child runs
(tag nnsweep.stop_reason = 'completed') of experiment "digits" (id 1).
Tested against MLflow 3.x UI; selectors are the UI's own CSS classes/labels.
"""

import sys

from playwright.sync_api import sync_playwright

BASE = "http://127.0.0.1:5055"
EXPERIMENT_ID = "1"
PARAMS = [
    "learning_rate",
    "momentum",
    "learning_rate_decay",
    "l1_penalty",
    "l2_penalty",
    "dropout_rate",
    "layer_1_units",
]
METRIC = "cv_mean"  # the trial's CV score, the axis the runs are coloured by
RUN_COLUMNS = ["best_cv_mean", "cv_mean", "nnsweep.stop_reason"]  # extra columns in the run list
HIDE_COLUMNS = ["Dataset", "Source"]  # default columns we don't need
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SELECT = ".du-bois-light-select"  # MLflow's antd-based select


def tidy(page):
    """Close the "MLflow Assistant" side panel and collapse the nav sidebar."""
    close = page.get_by_role("button", name="Close", exact=True)
    if close.count() and close.last.is_visible():
        close.last.click()
    if page.get_by_text("Model training", exact=True).is_visible():  # sidebar expanded
        page.get_by_role("button", name="Toggle sidebar").click()
    page.wait_for_timeout(800)


def pick_only(page, box, names):
    """Make ``names`` the only chips of the multi-select ``box``."""
    chip_x = box.locator(f"{SELECT}-selection-item-remove")
    while chip_x.count():
        chip_x.first.click()
        page.wait_for_timeout(200)
    box.locator("input").click(force=True)
    for name in names:
        page.keyboard.type(name)
        page.wait_for_timeout(300)
        page.locator(f"{SELECT}-item-option[title='{name}']:visible").first.click()
        page.wait_for_timeout(300)
    page.keyboard.press("Escape")
    page.mouse.click(5, 890)  # blur the select
    chips = box.locator(f"{SELECT}-selection-item-content").all_inner_texts()
    assert chips == names, chips


def compare_plot(page, url, out):
    """Screenshot the compare-runs page of the runs at ``url``: the parallel coordinates."""
    page.goto(url)
    page.get_by_text("Parallel Coordinates Plot").first.wait_for()
    page.wait_for_timeout(3000)
    tidy(page)
    # Opened once (a multi-select stays open), each name type-filtered and its option clicked
    pick_only(page, page.locator(SELECT).first, PARAMS)  # "Parameters:" selector
    pick_only(page, page.locator(SELECT).nth(1), [METRIC])  # "Metrics:" selector
    page.wait_for_timeout(2500)  # let plotly re-render
    # Crop from the page title down to just above "Run details".
    top = page.get_by_text("Comparing", exact=False).first.bounding_box()
    bottom = page.get_by_text("Run details", exact=True).first.bounding_box()
    x0 = top["x"] - 20
    page.screenshot(
        path=out,
        clip={
            "x": x0,
            "y": top["y"] - 40,
            "width": page.viewport_size["width"] - x0 - 10,
            "height": bottom["y"] - top["y"] + 10,
        },
    )


def runs_list(page, out):
    """Screenshot the experiment's run list with the trial columns shown."""
    page.goto(f"{BASE}/#/experiments/{EXPERIMENT_ID}/runs")
    page.get_by_role("button", name="Columns").wait_for()
    page.wait_for_timeout(3000)
    tidy(page)
    # Columns menu: hide a couple of defaults, add best_cv_mean, cv_mean and the stop-reason tag.
    page.get_by_role("button", name="Columns").click()
    search = page.get_by_placeholder("Search columns")
    for name in HIDE_COLUMNS + RUN_COLUMNS:
        search.fill(name)
        page.wait_for_timeout(400)
        page.get_by_text(name, exact=True).last.click()
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    # Expand the parent run (the "+" button in its Run Name cell) to show nested trials.
    page.locator("[role=gridcell] button[data-component-id*='runnamecell']").first.click()
    page.wait_for_timeout(2000)
    page.get_by_text("Training runs", exact=True).first.click()  # drop cell focus outline
    page.wait_for_timeout(300)
    page.screenshot(path=out)


if __name__ == "__main__":
    url = sys.argv[1]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        compare_plot(page, url, "docs/mlflow-compare.png")
        runs_list(page, "docs/mlflow-runs.png")
        browser.close()
