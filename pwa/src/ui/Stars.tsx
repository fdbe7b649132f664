/** A 1–5 rating as five large tap targets (radio semantics for screen readers). */
export function Stars({
  value,
  onChange,
  label,
  hint,
  testId,
  starLabel,
}: {
  value: number | null;
  onChange: (value: number) => void;
  label: string;
  hint: string;
  testId: string;
  starLabel: (n: number) => string;
}) {
  return (
    <fieldset class="stars" data-testid={testId} data-value={value ?? ''}>
      <legend class="field-label">{label}</legend>
      <p class="hint">{hint}</p>
      <div class="stars-row" role="radiogroup" aria-label={label}>
        {[1, 2, 3, 4, 5].map((n) => (
          <button
            key={n}
            type="button"
            role="radio"
            aria-checked={value === n ? 'true' : 'false'}
            aria-label={starLabel(n)}
            class={`star ${value !== null && n <= value ? 'is-on' : ''}`}
            data-star={n}
            onClick={() => onChange(n)}
          >
            ★
          </button>
        ))}
      </div>
    </fieldset>
  );
}
