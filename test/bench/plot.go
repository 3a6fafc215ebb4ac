package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// plotFile is the scaling plot beside latest.json.
const plotFile = "scaling.svg"

// series is one line of a panel: a figure per scale, skipped where zero.
type series struct {
	name  string
	value func(s Scale) float64
}

// writePlot draws two panels against N on a log axis into dir/plotFile:
// T_cold and the best T_raw of each kind (log seconds), and the manager's
// peak RSS and heap in use (MiB) with the RSS target.
func writePlot(r *Results, dir string) error {
	timing, err := panel("Cold start and physical limit", "seconds (log)", r.Scales, []series{
		{"T_cold (manager)", func(s Scale) float64 { return s.ColdSeconds.Median }},
		{"best T_raw, policy applied", func(s Scale) float64 { return s.BestRawApplied.Seconds.Median }},
		{"best T_raw, policy created", func(s Scale) float64 { return s.BestRawCreated.Seconds.Median }},
	})
	if err != nil {
		return err
	}
	timing.Y.Scale, timing.Y.Tick.Marker = plot.LogScale{}, plot.TickerFunc(logTicks)
	memory, err := panel("Manager memory", "MiB", r.Scales, []series{
		{"peak RSS (VmHWM)", func(s Scale) float64 { return medianMemory(s, func(m Memory) float64 { return m.PeakRSSMiB }) }},
		{"Go heap in use after GC", func(s Scale) float64 { return medianMemory(s, func(m Memory) float64 { return m.HeapInuseMiB }) }},
	})
	if err != nil {
		return err
	}
	target := plotter.NewFunction(func(float64) float64 { return targetRSSMiB })
	target.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	target.Color = plotutil.Color(3)
	memory.Add(target)
	memory.Legend.Add(fmt.Sprintf("RSS target at %s", thousands(targetRSSAt)), target)
	memory.Y.Min, memory.Y.Max = 0, math.Max(memory.Y.Max*1.1, targetRSSMiB*1.2)
	memory.Y.Tick.Marker = plot.TickerFunc(linearTicks)

	const width, height = 26 * vg.Centimeter, 10 * vg.Centimeter
	img := vgsvg.New(width, height)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	plots := [][]*plot.Plot{{timing, memory}}
	canvases := plot.Align(plots, tiles, draw.New(img))
	timing.Draw(canvases[0][0])
	memory.Draw(canvases[0][1])

	path := filepath.Join(dir, plotFile)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := img.WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return f.Close()
}

// panel is a plot of the series against N on a log axis whose ticks are
// the scales.
func panel(title, yLabel string, scales []Scale, lines []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "governed namespaces N (log)"
	p.Y.Label.Text = yLabel
	p.X.Scale = plot.LogScale{}
	var ticks plot.ConstantTicks
	for _, s := range scales {
		ticks = append(ticks, plot.Tick{Value: float64(s.Namespaces), Label: thousands(s.Namespaces)})
	}
	p.X.Tick.Marker = ticks
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	var args []any
	for _, l := range lines {
		var xys plotter.XYs
		for _, s := range scales {
			if v := l.value(s); v > 0 {
				xys = append(xys, plotter.XY{X: float64(s.Namespaces), Y: v})
			}
		}
		if len(xys) > 0 {
			args = append(args, l.name, xys)
		}
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, fmt.Errorf("plot %s: %w", title, err)
	}
	// Room around the points on the log axes.
	p.X.Min, p.X.Max = p.X.Min/1.3, p.X.Max*1.3
	if p.Y.Min > 0 {
		p.Y.Min, p.Y.Max = p.Y.Min/1.3, p.Y.Max*1.3
	}
	return p, nil
}

// logTicks labels 1, 2 and 5 times the powers of ten in [lo, hi], enough
// for a log axis that spans one or two decades.
func logTicks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for k := math.Floor(math.Log10(lo)); k <= math.Ceil(math.Log10(hi)); k++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, k); v >= lo && v <= hi {
				ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprintf("%g", v)})
			}
		}
	}
	return ticks
}

// linearTicks labels about five round values (1, 2 or 5 times a power of
// ten apart) in [lo, hi].
func linearTicks(lo, hi float64) []plot.Tick {
	if hi <= lo {
		return nil
	}
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if (hi-lo)/(step*m) <= 6 {
			step *= m
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprintf("%g", v)})
	}
	return ticks
}

// medianMemory is the median of a memory figure over a scale's runs.
func medianMemory(s Scale, f func(Memory) float64) float64 {
	var v []float64
	for _, m := range s.Memory {
		v = append(v, f(m))
	}
	return spreadOf(v).Median
}

// replot draws the plot again from out's latest.json, measuring nothing.
func replot(out string) error {
	dir, err := outDir(out)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	var r Results
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("plot: decode latest.json: %w", err)
	}
	// Results older than the concurrency sweep lack the derived figures.
	for i := range r.Scales {
		r.Scales[i].summarize()
	}
	if err := writePlot(&r, dir); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Plotted %s from %s\n", filepath.Join(dir, plotFile), filepath.Join(dir, "latest.json"))
	return nil
}
