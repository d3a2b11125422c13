"""Column-name constants for the raw-data contract.

Every module refers to columns through these names so that a rename is one edit and a typo is an
``AttributeError`` instead of a silent empty column.
"""

from __future__ import annotations

# keys
USER_ID = "user_id"
SKU_ID = "sku_id"
SUPPLIER_ID = "supplier_id"
ORDER_ID = "order_id"
ORDER_ITEM_ID = "order_item_id"
RETURN_ID = "return_id"
EVENT_ID = "event_id"
REVIEW_ID = "review_id"
PO_ID = "po_id"
PROMOTION_ID = "promotion_id"
TICKET_ID = "ticket_id"

# users
SIGNUP_AT = "signup_at"
USER_NAME = "name"
PHONE = "phone"
CITY = "city"
COUNTRY = "country"
GENDER = "gender"
BIRTH_YEAR = "birth_year"
CHANNEL = "channel"
DEVICE_ID = "device_id"

# products and suppliers
PRODUCT_NAME = "product_name"
CATEGORY = "category"
BRAND = "brand"
LIST_PRICE = "list_price"
UNIT_COST = "unit_cost"
LAUNCHED_AT = "launched_at"
SUPPLIER_NAME = "supplier_name"
MEAN_LEAD_TIME_DAYS = "mean_lead_time_days"

# orders and order lines
ORDER_TS = "order_ts"
STATUS = "status"
COUPON_AMOUNT = "coupon_amount"
PROMISED_AT = "promised_delivery_at"
SHIPPED_AT = "shipped_at"
DELIVERED_AT = "delivered_at"
QUANTITY = "quantity"
UNIT_PRICE = "unit_price"
DISCOUNT_AMOUNT = "discount_amount"

# returns
RETURNED_AT = "returned_at"
REFUND_AMOUNT = "refund_amount"
RETURN_REASON = "return_reason"

# events
EVENT_TS = "event_ts"
EVENT_TYPE = "event_type"
SESSION_ID = "session_id"

# reviews
REVIEW_TS = "review_ts"
RATING = "rating"
REVIEW_TEXT = "text"

# review verdicts (moderators' labels)
VERDICT = "verdict"
DECIDED_AT = "decided_at"
VERDICT_SOURCE = "verdict_source"

# inventory and purchase orders
DATE = "date"
ON_HAND = "on_hand"
ORDERED_AT = "ordered_at"
RECEIVED_AT = "received_at"

# promotions
PROMOTION_NAME = "promotion_name"
PROMO_TYPE = "promo_type"
START_AT = "start_at"
END_AT = "end_at"
DISCOUNT_RATE = "discount_rate"

# service tickets
CREATED_AT = "created_at"
TICKET_CATEGORY = "ticket_category"
RESOLVED = "resolved"
RESOLVED_AT = "resolved_at"

# quarantine
REASON = "reason"
SOURCE_ROW = "source_row"
SOURCE_FILE = "source_file"
RAW_LINE = "raw_line"

# feature tables
AS_OF = "as_of"
REVIEWER_ID = "reviewer_id"
UNIQUE_ID = "unique_id"
DS = "ds"
Y = "y"
