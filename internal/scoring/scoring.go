// Package scoring computes published clinical risk scores. It is the domain
// core of the service: pure functions over validated inputs, with no I/O and
// no transport types. Formulas, tables and citations follow
// shared/clinical/SPEC.md; model ids and input names follow shared/MODELS.md.
package scoring

import (
	"encoding/json"
	"sort"
)

// Model is one published score: its catalog entry (what /models shows) and
// the function that computes it.
type Model struct {
	ID         string      `json:"id"`
	Version    string      `json:"version"`
	Title      string      `json:"title"`
	Citation   string      `json:"citation"`
	DOI        string      `json:"doi,omitempty"`
	Population string      `json:"population"`
	Inputs     []Input     `json:"inputs"`
	Result     ResultSpec  `json:"result"`
	Outcomes   []ValueSpec `json:"outcomes,omitempty"`
	Notes      []string    `json:"notes"`
	// Variants names the model's variants where it has several; a
	// prediction's Variant says which one it used.
	Variants []string `json:"variants,omitempty"`

	// check reports errors that involve more than one input (e.g. "urea or
	// bun, not both"); it runs only when every input parsed on its own.
	check func(v *Values) []FieldError
	// compute fills p from inputs that passed validation. It must not
	// allocate beyond p's slices, so the hot path stays allocation-free.
	compute func(v *Values, p *Prediction)
}

// ResultSpec describes a model's main result.
type ResultSpec struct {
	Label      string   `json:"label"`
	Unit       string   `json:"unit"`
	Integer    bool     `json:"integer"`
	Categories []string `json:"categories,omitempty"`
}

// ValueSpec describes one outcome a model reports besides its result.
type ValueSpec struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Unit  string `json:"unit"`
}

// Prediction is what a model computes.
type Prediction struct {
	Result Result `json:"result"`
	// Variant names the variant computed, for models with Variants.
	Variant       string         `json:"variant,omitempty"`
	Outcomes      []Outcome      `json:"outcomes,omitempty"`
	Contributions []Contribution `json:"contributions"`
	Warnings      []string       `json:"warnings"`
}

// Result is a model's main value. Value is unrounded for equations and a
// whole number for points scores.
type Result struct {
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Label    string  `json:"label"`
	Category string  `json:"category,omitempty"`
}

// Outcome is a secondary value, e.g. PREVENT's heart-failure risk.
type Outcome struct {
	ID    string  `json:"id"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Label string  `json:"label"`
}

// Contribution is one item's share of a score: its points for a points
// score, or coefficient × transformed value for an equation's linear
// predictor. Input names the input(s) the term is built from, joined by ":"
// for interactions.
type Contribution struct {
	Input string  `json:"input"`
	Value float64 `json:"value"`
}

// Predict parses and validates raw JSON inputs and computes the model.
// The error, if any, is a *ValidationError listing every problem.
func (m *Model) Predict(raw map[string]json.RawMessage) (*Prediction, error) {
	v, err := m.Parse(raw)
	if err != nil {
		return nil, err
	}
	p := &Prediction{}
	m.Compute(&v, p)
	return p, nil
}

// Compute evaluates the model on inputs returned by Parse, reusing p's
// slices; it does not allocate when they have room.
func (m *Model) Compute(v *Values, p *Prediction) {
	// Contributions and warnings are lists in the response even when empty.
	if p.Contributions == nil {
		p.Contributions = make([]Contribution, 0, 2*len(m.Inputs)) // room for interaction terms
	}
	if p.Warnings == nil {
		p.Warnings = []string{}
	}
	p.Outcomes = p.Outcomes[:0]
	p.Contributions = p.Contributions[:0]
	p.Warnings = p.Warnings[:0]
	p.Variant = ""
	p.Result = Result{Unit: m.Result.Unit, Label: m.Result.Label}
	m.compute(v, p)
}

// addOutcome appends outcome s with value x.
func (p *Prediction) addOutcome(s ValueSpec, x float64) {
	p.Outcomes = append(p.Outcomes, Outcome{ID: s.ID, Value: x, Unit: s.Unit, Label: s.Label})
}

// Catalog is the set of models the service offers, in a stable order.
type Catalog struct {
	models []*Model
	byID   map[string]*Model
}

// NewCatalog returns every model of shared/MODELS.md.
func NewCatalog() *Catalog {
	models := []*Model{
		pceModel(),
		preventModel(10),
		preventModel(30),
		framinghamModel(),
		news2Model(),
		qsofaModel(),
		chadsVascModel(),
		ckdEpiModel(),
		meldNaModel(),
		meld3Model(),
		findriscModel(),
		curb65Model(),
	}
	models = append(models, rehearsalModels()...)
	c := &Catalog{models: models, byID: make(map[string]*Model, len(models))}
	for _, m := range models {
		c.byID[m.ID] = m
	}
	return c
}

// Models lists the models in catalog order.
func (c *Catalog) Models() []*Model { return c.models }

// Model finds a model by id.
func (c *Catalog) Model(id string) (*Model, bool) {
	m, ok := c.byID[id]
	return m, ok
}

// IDs lists the model ids, sorted.
func (c *Catalog) IDs() []string {
	ids := make([]string, 0, len(c.models))
	for _, m := range c.models {
		ids = append(ids, m.ID)
	}
	sort.Strings(ids)
	return ids
}
