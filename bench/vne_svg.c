/*
 * A small line-plot writer for the benchmark's acceptance-over-time figure:
 * axes with ticks, one polyline per series and a legend, written as plain
 * SVG so no plotting tool is needed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/vne.h"
#include "util/util.h"

#define W 900.0
#define H 540.0
#define ML 70.0
#define MR 230.0
#define MT 40.0
#define MB 55.0

static const char *const colours[] = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};

static void
xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* A "nice" tick step giving about n ticks over span. */
static double
tick_step(double span, int n)
{
    double raw = span / n;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

int
vne_svg_write(const char *path, const char *title, const char *ylabel,
              const struct vne_series *series, size_t nseries, struct cn_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cn_err_set(err, CN_E_IO, "%s: cannot write", path);
    double tmax = 0, ymin = 1, ymax = 0;
    for (size_t k = 0; k < nseries; k++) {
        for (size_t i = 0; i < series[k].n; i++) {
            tmax = series[k].t[i] > tmax ? series[k].t[i] : tmax;
            ymin = series[k].y[i] < ymin ? series[k].y[i] : ymin;
            ymax = series[k].y[i] > ymax ? series[k].y[i] : ymax;
        }
    }
    if (tmax <= 0)
        tmax = 1;
    /* Acceptance ratios: show from a round value below the lowest to 1. */
    ymin = floor(ymin * 10) / 10;
    if (ymin > 0.9)
        ymin = 0.9;
    if (ymin < 0)
        ymin = 0;
    ymax = 1.0;
    double pw = W - ML - MR, ph = H - MT - MB;

    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.1f\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">", ML + pw / 2);
    xml_text(f, title);
    fprintf(f, "</text>\n");
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#333\"/>\n",
            ML, MT, pw, ph);

    double xs = tick_step(tmax, 8);
    for (double t = 0; t <= tmax + 1e-9; t += xs) {
        double x = ML + t / tmax * pw;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x,
                MT, x, MT + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", x,
                MT + ph + 16, t);
    }
    double ys = tick_step(ymax - ymin, 6);
    for (double y = ymin; y <= ymax + 1e-9; y += ys) {
        double py = MT + (ymax - y) / (ymax - ymin) * ph;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", ML,
                py, ML + pw, py);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", ML - 6, py + 4,
                y);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">time</text>\n", ML + pw / 2,
            H - 12);
    fprintf(f,
            "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 16 %.1f)\">",
            MT + ph / 2, MT + ph / 2);
    xml_text(f, ylabel);
    fprintf(f, "</text>\n");

    for (size_t k = 0; k < nseries; k++) {
        const char *c = colours[k % CN_ARRAY_SIZE(colours)];
        const char *dash = k >= CN_ARRAY_SIZE(colours) ? " stroke-dasharray=\"6 3\"" : "";
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s points=\"", c,
                dash);
        for (size_t i = 0; i < series[k].n; i++) {
            double y = series[k].y[i] < ymin ? ymin : series[k].y[i];
            fprintf(f, "%.1f,%.1f ", ML + series[k].t[i] / tmax * pw,
                    MT + (ymax - y) / (ymax - ymin) * ph);
        }
        fprintf(f, "\"/>\n");
        double ly = MT + 10 + 20.0 * (double)k;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"%s/>\n",
                ML + pw + 12, ly, ML + pw + 40, ly, c, dash);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", ML + pw + 46, ly + 4);
        xml_text(f, series[k].label);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0)
        return cn_err_set(err, CN_E_IO, "%s: write failed", path);
    return 0;
}
