-- agreement: Krippendorff's alpha (nominal) over the labels that count (after validation and
-- the onboarding gate), like the paper's Table 6:
--   scope 'taxonomy': one alpha per task;
--   scope 'label':    per task and label, one-vs-rest (does the annotator say this label?);
--   scope 'language': per task, over the posts of one language (the platform's tag).
-- alpha = 1 − (n − 1) · Σ_u (m_u² − Σ_c n_uc²)/(m_u − 1) / (n² − Σ_c n_c²), over units (posts)
-- with at least two labels; null when every pairable label is the same (no variation).
-- Unique key: (scope, task, level). Needs: annotations_checked, shortlist, taxonomy_labels.
with valid as (
    select a.post_id, a.task, a.label, s.language
    from annotations_checked as a
    join shortlist as s using (post_id)
    where a.reason is null
),

coded as (
    select 'taxonomy' as scope, task, '' as level, post_id as unit, label as value from valid
    union all
    select 'language', task, language, post_id, label from valid
    union all
    select 'label', v.task, t.label, v.post_id, (v.label = t.label)::varchar
    from valid as v
    join taxonomy_labels as t on t.taxonomy = v.task
),

per_value as (
    select scope, task, level, unit, value, count(*)::double as n_uc from coded group by all
),

per_unit as (
    select scope, task, level, unit, sum(n_uc) as m, sum(n_uc * n_uc) as sq
    from per_value
    group by all
    having sum(n_uc) >= 2
),

observed as (
    select scope, task, level, count(*) as units, sum((m * m - sq) / (m - 1)) as disagreement
    from per_unit
    group by all
),

per_class as (
    select v.scope, v.task, v.level, v.value, sum(v.n_uc) as n_c
    from per_value as v
    join per_unit as u using (scope, task, level, unit)
    group by all
),

expected as (
    select scope, task, level, sum(n_c) as n, sum(n_c * n_c) as sq_c from per_class group by all
),

final as (
    select
        o.scope, o.task, o.level, o.units, e.n::bigint as pairable_labels,
        case
            when e.n * e.n - e.sq_c > 0
                then 1 - (e.n - 1) * o.disagreement / (e.n * e.n - e.sq_c)
        end as alpha
    from observed as o
    join expected as e using (scope, task, level)
)

select * from final order by scope, task, level
