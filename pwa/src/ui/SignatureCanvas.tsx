/** A large signature pad (signature_pad: pressure-free, by stroke speed) with "clear"; PNG out. */
import SignaturePad from 'signature_pad';
import { useEffect, useRef } from 'preact/hooks';

export interface SignatureHandle {
  isEmpty(): boolean;
  toPng(): Promise<ArrayBuffer>;
  clear(): void;
}

export function SignatureCanvas({
  label,
  clearLabel,
  onChange,
  handle,
}: {
  label: string;
  clearLabel: string;
  onChange: (signed: boolean) => void;
  handle: (h: SignatureHandle) => void;
}) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const padRef = useRef<SignaturePad | null>(null);

  useEffect(() => {
    const canvas = canvasRef.current!;
    const pad = new SignaturePad(canvas, { minWidth: 1.2, maxWidth: 3.2, penColor: '#0b1220' });
    padRef.current = pad;
    const resize = () => {
      // Sharp on high-density screens; a resize clears the pad (the customer signs again).
      const ratio = Math.max(window.devicePixelRatio || 1, 1);
      canvas.width = canvas.offsetWidth * ratio;
      canvas.height = canvas.offsetHeight * ratio;
      canvas.getContext('2d')!.scale(ratio, ratio);
      pad.clear();
      onChange(false);
    };
    pad.addEventListener('endStroke', () => onChange(!pad.isEmpty()));
    resize();
    window.addEventListener('resize', resize);
    handle({
      isEmpty: () => pad.isEmpty(),
      clear: () => {
        pad.clear();
        onChange(false);
      },
      toPng: () =>
        new Promise((resolve, reject) =>
          canvas.toBlob((blob) => (blob ? void blob.arrayBuffer().then(resolve) : reject(new Error('no image'))), 'image/png'),
        ),
    });
    return () => {
      window.removeEventListener('resize', resize);
      pad.off();
    };
  }, []);

  return (
    <div class="signature">
      <canvas ref={canvasRef} class="signature-canvas" data-testid="signature-pad" aria-label={label} role="img" />
      <button
        type="button"
        class="btn btn-secondary"
        data-testid="signature-clear"
        onClick={() => {
          padRef.current?.clear();
          onChange(false);
        }}
      >
        {clearLabel}
      </button>
    </div>
  );
}
