-- A play's weight in the decayed sums: exp((played_at - clock) / tau), at most 1 for a
-- play at or before the listener's clock. Clamped at e^-700 (0 for any purpose): PostgreSQL's
-- exp() raises on underflow. Used by int_history_events and int_candidate_plays_summed, so
-- first plays and candidates weigh a play alike.
{% macro decay_weight(played_at_us, clock_us, tau) -%}
    exp(greatest(
        ({{ played_at_us }} - {{ clock_us }}) / cast({{ days_us(tau) }} as double precision),
        -700.0
    ))
{%- endmacro %}
