/** The FieldQ mark (same drawing as the icons made by scripts/make_icons.py). */
export function Logo({ size = 36 }: { size?: number }) {
  return <img class="logo" src="/favicon.svg" width={size} height={size} alt="" />;
}
