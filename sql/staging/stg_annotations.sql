-- stg_annotations: annotators' labels as delivered, one row per delivered row.
-- Staging only renames and casts; validation and voting live in the marts.
-- Needs: raw_annotations (the delivered table, with its row order as delivery_order).
with source as (
    select * from raw_annotations
),

final as (
    select
        cast(annotator_id as varchar)  as annotator_id,
        cast(post_id as bigint)        as post_id,
        cast(task as varchar)          as task,
        cast(label as varchar)         as label,
        cast(delivery_order as bigint) as delivery_order
    from source
)

select * from final
