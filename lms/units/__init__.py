"""The unit admin's (单位管理员) and HR auditor's (人社审核) pages: approvals and hours against the rule."""
