import Foundation

/// The batch report as one self-contained HTML page: inline CSS, no scripts, no external resources;
/// links and images point at the scenes' outputs by relative path.
struct BatchReportPage {
    /// The summary, its output paths relative to the page's folder.
    let summary: BatchSummary

    func html() -> String {
        var page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>tilerun batch report</title>
        <style>
        body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
        table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
        th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
        th { background: #f2f2f2; }
        .number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        .swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #444; vertical-align: -0.1em; margin-right: 0.4em; }
        .failed { color: #b00020; }
        figure { margin: 0 0 2em; }
        figure img { max-width: 100%; border: 1px solid #ccc; }
        </style>
        </head>
        <body>
        <h1>tilerun batch report</h1>

        """
        let totals = summary.totals
        page += "<p>\(totals.scenes) scene\(totals.scenes == 1 ? "" : "s"): \(totals.succeeded) succeeded, \(totals.failed) failed.</p>\n"
        if totals.succeeded > 0 { page += classTotalsTable() }
        page += scenesTable()
        if totals.succeeded > 0 { page += quicklooks() }
        return page + "</body>\n</html>\n"
    }

    /// The classes with pixels anywhere in the batch, in channel order.
    private var presentClasses: [(legend: LegendClass, total: SceneStatistics.ClassTotal)] {
        zip(summary.classes, summary.totals.classes).filter { $0.1.pixels > 0 }.map { ($0, $1) }
    }

    private func classTotalsTable() -> String {
        let totals = summary.totals
        var html = "<h2>Totals per class</h2>\n<table>\n"
        html += "<tr><th>Class</th><th class=\"number\">Value</th><th class=\"number\">Pixels</th><th class=\"number\">Area (ha)</th><th class=\"number\">Share of all pixels</th></tr>\n"
        for (legend, total) in presentClasses {
            html += "<tr><td>\(swatch(legend.color))\(escape(legend.name))</td><td class=\"number\">\(legend.value)</td>"
                + "<td class=\"number\">\(ReportFormatting.grouped(total.pixels))</td>"
                + "<td class=\"number\">\(total.areaHectares.map(ReportFormatting.hectares) ?? "-")</td>"
                + "<td class=\"number\">\(ReportFormatting.percent(total.pixels, of: totals.pixels))</td></tr>\n"
        }
        html += "<tr><td>nodata</td><td></td><td class=\"number\">\(ReportFormatting.grouped(totals.nodataPixels))</td><td></td>"
            + "<td class=\"number\">\(ReportFormatting.percent(totals.nodataPixels, of: totals.pixels))</td></tr>\n"
        return html + "</table>\n"
    }

    /// Every scene in the order given: size, CRS and hectares per class, or the reason it failed.
    private func scenesTable() -> String {
        let classes = presentClasses
        var html = "<h2>Scenes</h2>\n<table>\n<tr><th>Scene</th><th>Status</th><th class=\"number\">Size (px)</th><th>CRS</th>"
        for (legend, _) in classes {
            html += "<th class=\"number\">\(swatch(legend.color))\(escape(legend.name)) (ha)</th>"
        }
        html += "<th class=\"number\">Nodata</th><th class=\"number\">Tiles (skipped)</th></tr>\n"
        for (index, scene) in summary.scenes.enumerated() {
            guard let statistics = scene.statistics else {
                html += "<tr><td><code>\(escape(scene.scene))</code></td><td class=\"failed\">failed</td>"
                    + "<td colspan=\"\(classes.count + 4)\">\(escape(scene.failure ?? ""))</td></tr>\n"
                continue
            }
            html += "<tr><td><a href=\"#scene-\(index + 1)\"><code>\(escape(scene.scene))</code></a></td><td>succeeded</td>"
                + "<td class=\"number\">\(statistics.width) × \(statistics.height)</td><td>\(escape(statistics.crs ?? "none"))</td>"
            for (legend, _) in classes {
                let hectares = statistics.classes.first { $0.value == legend.value }?.areaHectares
                html += "<td class=\"number\">\(hectares.map(ReportFormatting.hectares) ?? "-")</td>"
            }
            html += "<td class=\"number\">\(ReportFormatting.percent(statistics.nodataPixels, of: statistics.width * statistics.height))</td>"
                + "<td class=\"number\">\(scene.tiles.map(String.init) ?? "-") (\(scene.skippedTiles.map(String.init) ?? "-"))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// Each succeeded scene's quicklook, linked to itself, with links to the scene's other outputs.
    private func quicklooks() -> String {
        var html = "<h2>Quicklooks</h2>\n"
        for (index, scene) in summary.scenes.enumerated() where scene.status == .succeeded {
            let name = escape(URL(fileURLWithPath: scene.scene).lastPathComponent)
            html += "<figure id=\"scene-\(index + 1)\">\n<h3>\(name)</h3>\n"
            if let quicklook = scene.outputs?.quicklook {
                html += "<a href=\"\(link(quicklook))\"><img src=\"\(link(quicklook))\" alt=\"quicklook of \(name)\"></a>\n"
            }
            if let outputs = scene.outputs {
                let files = [("class map", outputs.classMap), ("probabilities", outputs.probabilities),
                             ("statistics JSON", outputs.statisticsJSON), ("statistics CSV", outputs.statisticsCSV)]
                let links = files.compactMap { label, path in path.map { "<a href=\"\(link($0))\">\(label)</a>" } }
                html += "<figcaption>\(links.joined(separator: " · "))</figcaption>\n"
            }
            html += "</figure>\n"
        }
        return html
    }

    private func swatch(_ color: PaletteColor) -> String {
        "<span class=\"swatch\" style=\"background: \(color.hex)\"></span>"
    }

    /// A relative path as an href: percent-encoded, then escaped for the attribute.
    private func link(_ path: String) -> String {
        escape(path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path)
    }

    /// Text made safe for HTML content and attribute values.
    private func escape(_ text: String) -> String {
        var result = ""
        for c in text {
            switch c {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(c)
            }
        }
        return result
    }
}
