// Reserves stock for an order started by EventBridge through Step Functions: the input is the
// transformed event {"orderId": ..., "items": [...]}; a missing order id fails the task.
export const handler = async (input) => {
  if (!input || typeof input.orderId !== "string" || input.orderId === "") {
    throw new Error("[BadInput] orderId is required");
  }
  const items = Array.isArray(input.items) ? input.items : [];
  return { orderId: input.orderId, reserved: items.length };
};
