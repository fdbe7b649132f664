"""The closed quality loop: nonconformances, corrective and preventive actions, the rules that raise
candidates from signals, supervision records, and the overdue scan."""
